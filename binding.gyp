{
  "targets": [
    {
      "target_name": "tftp_native",
      "sources": ["native/tftp/addon.c", "native/tftp/engine.c", "native/tftp/engine-api.c", "native/tftp/transfer.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
