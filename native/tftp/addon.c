/*
 * N-API glue for the native TFTP engine (engine.c). node_api.h only, so one build loads
 * on every Node with N-API 8 (20, 22, 24). The file bytes are the caller's Buffer (a view
 * of the SharedArrayBuffer cache): a napi_ref keeps it alive, no copy. End reports come
 * back through a thread-safe function, which is ref'd only while transfers run.
 *
 *   create(threads, onEnd) -> handle
 *   start(handle, data, oack|null, blksize, windowsize, maxRetries, maxRetriesBeforeAck,
 *         retransmitMs, bindAddress, clientAddress, clientPort) -> id   (throws on socket setup)
 *   abort(handle, id, reason)
 *   close(handle)
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <arpa/inet.h>
#include <node_api.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

typedef struct handle {
  tftp_engine *engine;
  napi_threadsafe_function tsfn;
  atomic_int dead;   /* the tsfn is gone: drop reports */
  atomic_int owners; /* the JS External and the tsfn: the last finalizer frees the handle */
  int active;        /* main thread only */
  int closed;
} handle;

static void release_handle(handle *h) {
  if (atomic_fetch_sub(&h->owners, 1) == 1) free(h);
}

/* The External JS holds: a handle stays readable (closed) until JS drops it, whatever the tsfn did. */
static void external_finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  release_handle(data);
}

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    if ((call) != napi_ok) {                                                                                           \
      napi_throw_error(env, NULL, "tftp native: " #call " failed");                                                    \
      return NULL;                                                                                                     \
    }                                                                                                                  \
  } while (0)

static void on_end(void *ctx, tftp_end *end) {
  handle *h = ctx;
  if (atomic_load(&h->dead) || napi_call_threadsafe_function(h->tsfn, end, napi_tsfn_nonblocking) != napi_ok) free(end);
}

static void set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value x;
  if (napi_create_double(env, v, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  handle *h = context;
  tftp_end *end = data;
  if (env == NULL) {
    free(end);
    return;
  }
  napi_delete_reference(env, (napi_ref)end->user);
  if (--h->active == 0 && !h->closed) napi_unref_threadsafe_function(env, h->tsfn);
  napi_value obj, s, b, undef;
  napi_create_object(env, &obj);
  set_num(env, obj, "id", (double)end->id);
  napi_create_string_utf8(env, end->outcome, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, obj, "outcome", s);
  if (end->reason[0]) {
    napi_create_string_utf8(env, end->reason, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, obj, "reason", s);
  }
  set_num(env, obj, "bytesAcked", (double)end->bytes_acked);
  set_num(env, obj, "bytesSent", (double)end->bytes_sent);
  set_num(env, obj, "retransmits", (double)end->retransmits);
  napi_get_boolean(env, end->acknowledged != 0, &b);
  napi_set_named_property(env, obj, "acknowledged", b);
  set_num(env, obj, "ignoredMalformed", end->ignored_malformed);
  set_num(env, obj, "ignoredUnexpected", end->ignored_unexpected);
  free(end);
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, cb, 1, &obj, NULL);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  handle *h = data;
  atomic_store(&h->dead, 1);
  if (h->engine) tftp_engine_destroy(h->engine); /* env teardown without close() */
  h->engine = NULL;
  h->closed = 1;
  release_handle(h);
}

static handle *get_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "tftp native: bad handle");
    return NULL;
  }
  handle *h = p;
  if (h->closed) {
    napi_throw_error(env, NULL, "tftp native: engine closed");
    return NULL;
  }
  return h;
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], name, ext;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t threads = 1;
  CHECK(napi_get_value_int32(env, argv[0], &threads));
  handle *h = calloc(1, sizeof *h);
  if (!h) CHECK(napi_generic_failure);
  atomic_init(&h->owners, 2);
  CHECK(napi_create_string_utf8(env, "picluster-tftp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, h, tsfn_finalize, h, call_js, &h->tsfn));
  CHECK(napi_unref_threadsafe_function(env, h->tsfn));
  h->engine = tftp_engine_create(threads, on_end, h);
  if (!h->engine) {
    release_handle(h); /* no External will own it */
    napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort);
    napi_throw_error(env, NULL, "tftp native: engine threads failed to start");
    return NULL;
  }
  CHECK(napi_create_external(env, h, external_finalize, NULL, &ext));
  return ext;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

static int get_addr(napi_env env, napi_value v, uint32_t port, struct sockaddr_in *out) {
  char buf[64];
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok) return 0;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, buf, &out->sin_addr) == 1;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  tftp_job job;
  memset(&job, 0, sizeof job);
  napi_typedarray_type type;
  size_t length;
  void *data;
  bool is_ta = false;
  napi_is_typedarray(env, argv[1], &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "tftp native: data must be a Uint8Array");
    return NULL;
  }
  job.data = data;
  job.size = length;
  napi_valuetype vt;
  napi_typeof(env, argv[2], &vt);
  if (vt != napi_null && vt != napi_undefined) {
    void *oack;
    size_t oack_len;
    is_ta = false;
    napi_is_typedarray(env, argv[2], &is_ta);
    if (!is_ta || napi_get_typedarray_info(env, argv[2], &type, &oack_len, &oack, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "tftp native: oack must be a Uint8Array");
      return NULL;
    }
    job.oack = oack;
    job.oack_len = oack_len;
  }
  uint32_t client_port;
  if (!get_u32(env, argv[3], &job.blksize) || !get_u32(env, argv[4], &job.windowsize) || !get_u32(env, argv[5], &job.max_retries) ||
      !get_u32(env, argv[6], &job.max_retries_before_ack) || !get_u32(env, argv[7], &job.retransmit_ms) ||
      !get_u32(env, argv[10], &client_port) || job.blksize < 1 || job.blksize > 65464 || job.windowsize < 1 || job.windowsize > 32767 ||
      !get_addr(env, argv[8], 0, &job.bind_addr) || !get_addr(env, argv[9], client_port, &job.client_addr)) {
    napi_throw_type_error(env, NULL, "tftp native: bad transfer parameters");
    return NULL;
  }
  napi_ref ref;
  CHECK(napi_create_reference(env, argv[1], 1, &ref));
  job.user = ref;
  char err[160];
  uint64_t id = tftp_engine_start(h->engine, &job, err, sizeof err);
  if (id == 0) {
    napi_delete_reference(env, ref);
    napi_throw_error(env, NULL, err);
    return NULL;
  }
  if (h->active++ == 0) napi_ref_threadsafe_function(env, h->tsfn);
  napi_value out;
  CHECK(napi_create_double(env, (double)id, &out));
  return out;
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  double id;
  char reason[128] = "aborted";
  CHECK(napi_get_value_double(env, argv[1], &id));
  if (!(id >= 1 && id <= 9007199254740991.0) || id != (double)(uint64_t)id) {
    napi_throw_range_error(env, NULL, "tftp native: bad transfer id");
    return NULL;
  }
  size_t len;
  napi_get_value_string_utf8(env, argv[2], reason, sizeof reason, &len);
  tftp_engine_abort(h->engine, (uint64_t)id, reason);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  h->closed = 1;
  tftp_engine_destroy(h->engine); /* joins; what is still running is reported as aborted */
  h->engine = NULL;
  napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
