"""https: the client verifies the master by ca_file= or pin= (or $PICLUSTER_CA / $PICLUSTER_PIN)
against a loopback https server this test starts with the certificates of `picluster tls init`
(in $PICLUSTER_TEST_TLS_DIR: ca.pem, server.pem, server-key.pem for 127.0.0.1)."""
import hashlib
import os
import ssl
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_offline import _Server  # noqa: E402

from picluster import Cluster, ClusterError, TlsPinMismatch, TlsTrustError  # noqa: E402

TLS_DIR = os.environ.get("PICLUSTER_TEST_TLS_DIR")
NODES = [{"name": "n1", "connected": True}]


def _der_pin(pem_path):
    with open(pem_path, encoding="utf-8") as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return "sha256:" + hashlib.sha256(der).hexdigest()


@unittest.skipUnless(TLS_DIR, "set PICLUSTER_TEST_TLS_DIR to a `picluster tls init` directory")
class Https(unittest.TestCase):
    def setUp(self):
        self.ca = os.path.join(TLS_DIR, "ca.pem")
        self.pin = _der_pin(os.path.join(TLS_DIR, "server.pem"))
        self.server = _Server(lambda m, p, h, b: (200, NODES))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(TLS_DIR, "server.pem"), os.path.join(TLS_DIR, "server-key.pem"))
        self.server.httpd.socket = ctx.wrap_socket(self.server.httpd.socket, server_side=True)
        self.url = self.server.url.replace("http://", "https://")
        self.addCleanup(self.server.close)
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("PICLUSTER_CA", None)
        os.environ.pop("PICLUSTER_PIN", None)

    def nodes(self, **kw):
        c = Cluster(self.url, token="t", **kw)
        self.addCleanup(c.close)
        return c.nodes()

    def test_a_ca_file_verifies_the_chain_and_the_address(self):
        self.assertEqual([n["name"] for n in self.nodes(ca_file=self.ca)], ["n1"])
        self.assertEqual(len(self.server.requests), 1)

    def test_a_pin_in_any_openssl_spelling_verifies_the_certificate(self):
        hex_ = self.pin[len("sha256:"):]
        openssl_style = "SHA256:" + ":".join(hex_[i : i + 2] for i in range(0, 64, 2)).upper()
        for pin in (self.pin, hex_, openssl_style):
            self.assertEqual(len(self.nodes(pin=pin)), 1, pin)

    def test_a_wrong_pin_is_refused_before_any_request_names_both_fingerprints(self):
        wrong = "sha256:" + "0" * 64
        with self.assertRaises(TlsPinMismatch) as cm:
            self.nodes(pin=wrong)
        e = cm.exception
        self.assertIsInstance(e, TlsTrustError)
        self.assertIsInstance(e, ClusterError)
        self.assertEqual((e.status, e.code), (0, "TLS_PIN_MISMATCH"))
        self.assertIn("certificate pin mismatch: expected %s, got %s" % (wrong, self.pin), str(e))
        self.assertEqual(self.server.requests, [])

    def test_without_the_ca_the_system_cas_refuse_the_self_signed_master(self):
        with self.assertRaises(TlsTrustError) as cm:
            self.nodes()
        self.assertEqual(cm.exception.code, "TLS_TRUST")
        self.assertIn("is not trusted", cm.exception.message)
        self.assertIn("ca_file=", cm.exception.message)
        self.assertEqual(self.server.requests, [])

    def test_the_environment_supplies_the_ca_or_the_pin(self):
        os.environ["PICLUSTER_PIN"] = self.pin
        self.assertEqual(len(self.nodes()), 1)
        os.environ["PICLUSTER_PIN"] = "sha256:" + "f" * 64
        with self.assertRaises(TlsPinMismatch):
            self.nodes()
        del os.environ["PICLUSTER_PIN"]
        os.environ["PICLUSTER_CA"] = self.ca
        self.assertEqual(len(self.nodes()), 1)

    def test_plain_http_to_the_https_port_fails_clearly(self):
        with self.assertRaises(ClusterError) as cm:
            c = Cluster(self.server.url, token="t")
            self.addCleanup(c.close)
            c.nodes()
        self.assertEqual(cm.exception.code, "UNREACHABLE")
        self.assertIn("use an https:// URL", cm.exception.message)


class TrustArguments(unittest.TestCase):
    def test_a_bad_pin_or_ca_file_is_refused_when_the_cluster_is_made(self):
        with self.assertRaises(TlsTrustError) as cm:
            Cluster("https://127.0.0.1:9", token="t", pin="sha256:abc")
        self.assertIn("pin must be a SHA-256 fingerprint", str(cm.exception))
        with self.assertRaises(TlsTrustError) as cm:
            Cluster("https://127.0.0.1:9", token="t", ca_file="/nonexistent/ca.pem")
        self.assertIn("ca_file /nonexistent/ca.pem", str(cm.exception))
        with self.assertRaises(TlsTrustError) as cm:
            Cluster("https://127.0.0.1:9", token="t", ca_file=__file__)
        self.assertIn("holds no PEM certificate", str(cm.exception))

    def test_https_to_a_plain_http_port_says_the_handshake_failed(self):
        s = _Server(lambda m, p, h, b: (200, NODES))
        self.addCleanup(s.close)
        c = Cluster(s.url.replace("http://", "https://"), token="t", pin="sha256:" + "0" * 64)
        self.addCleanup(c.close)
        with self.assertRaises(ClusterError) as cm:
            c.nodes()
        self.assertEqual(cm.exception.code, "UNREACHABLE")
        self.assertIn("the TLS handshake with", cm.exception.message)
        self.assertIn("does the master serve https on this port?", cm.exception.message)

    def test_ca_file_and_pin_belong_to_https_urls(self):
        with self.assertRaises(ValueError):
            Cluster("http://127.0.0.1:9", token="t", pin="sha256:" + "0" * 64)
        with mock.patch.dict(os.environ, {"PICLUSTER_PIN": "sha256:" + "0" * 64}):
            Cluster("http://127.0.0.1:9", token="t").close()  # the environment is for https masters only


if __name__ == "__main__":
    unittest.main()
