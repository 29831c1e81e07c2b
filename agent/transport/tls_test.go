package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a throwaway certificate setup: a CA, west's server certificate (for
// 127.0.0.1), east's client certificate, and a few wrong ones.
type pki struct {
	dir                string
	caFile             string
	otherCAFile        string // an unrelated CA
	westCert, westKey  string // server, signed by the CA
	eastCert, eastKey  string // client "east", signed by the CA
	evilCert, evilKey  string // client "mallory", signed by the CA
	rogueCert, rogueKy string // client "east", signed by the other CA
}

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newCA(t *testing.T, dir, name string) (ca, string) {
	t.Helper()
	key := newKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca{cert: cert, key: key}, writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
}

// issue writes a certificate for name (CN and DNS SAN, plus ips) signed by c,
// usable as server and client, and its PKCS #8 key.
func (c ca) issue(t *testing.T, dir, file, name string, ips ...net.IP) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, file+".crt"), "CERTIFICATE", der),
		writePEM(t, filepath.Join(dir, file+".key"), "PRIVATE KEY", kder)
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir}
	root, caFile := newCA(t, dir, "pgduet-ca")
	other, otherFile := newCA(t, dir, "other-ca")
	p.caFile, p.otherCAFile = caFile, otherFile
	p.westCert, p.westKey = root.issue(t, dir, "west", "west", net.IPv4(127, 0, 0, 1))
	p.eastCert, p.eastKey = root.issue(t, dir, "east", "east")
	p.evilCert, p.evilKey = root.issue(t, dir, "mallory", "mallory")
	p.rogueCert, p.rogueKy = other.issue(t, dir, "rogue-east", "east")
	return p
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	for _, c := range []struct {
		name                     string
		serverCA, clientCA       string
		clientCert, clientKey    string
		wantErr                  []string // empty: success
		wantUnknownAuthorityHere bool
	}{
		{name: "ok", serverCA: p.caFile, clientCA: p.caFile, clientCert: p.eastCert, clientKey: p.eastKey},
		{name: "client does not trust the server's CA", serverCA: p.caFile, clientCA: p.otherCAFile,
			clientCert: p.eastCert, clientKey: p.eastKey,
			wantErr: []string{"certificate problem", "unknown authority"}, wantUnknownAuthorityHere: true},
		{name: "server does not trust the client's CA", serverCA: p.caFile, clientCA: p.caFile,
			clientCert: p.rogueCert, clientKey: p.rogueKy,
			wantErr: []string{"certificate problem", "rejected this node's TLS certificate"}},
		{name: "client certificate names the wrong peer", serverCA: p.caFile, clientCA: p.caFile,
			clientCert: p.evilCert, clientKey: p.evilKey,
			wantErr: []string{"certificate problem", "rejected this node's TLS certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stls, err := ServerTLS(c.serverCA, p.westCert, p.westKey, "east")
			if err != nil {
				t.Fatal(err)
			}
			ctls, err := ClientTLS(c.clientCA, c.clientCert, c.clientKey, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			cfg := westConfig(t)
			cfg.TLS = stls
			r := newTestReceiver()
			ts := startServer(t, cfg, r)
			s, err := dialTest(t, ClientConfig{Address: ts.addr, TLS: ctls, Hello: eastHello()})
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				sess := recv(t, r.sessions, "session")
				sendAll(t, s, testTxs()[0])
				if d := diffTx(testTxs()[0], recv(t, sess.applied, "tx")); d != "" {
					t.Error(d)
				}
				recv(t, s.Acks(), "ack")
				return
			}
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			t.Logf("Dial: %v", err)
			if !strings.HasPrefix(err.Error(), "dial peer west at "+ts.addr+": ") {
				t.Errorf("error %q does not name the peer and address", err)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var ua x509.UnknownAuthorityError
			if c.wantUnknownAuthorityHere && !errors.As(err, &ua) {
				t.Errorf("error %v does not wrap x509.UnknownAuthorityError", err)
			}
			var re *RemoteError
			if errors.As(err, &re) {
				t.Errorf("a TLS failure came back as a RemoteError: %v", err)
			}
			if len(r.hellos) != 0 {
				t.Error("Open was called despite the TLS failure")
			}
		})
	}
}

func TestPeerNameCheck(t *testing.T) {
	cert := func(cn string, dns ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	}
	for _, c := range []struct {
		cert *x509.Certificate
		ok   bool
	}{
		{cert("", "east"), true},
		{cert("", "other", "EAST"), true},
		{cert("east"), true},
		{cert("east-agent", "east.example.com"), false},
		{cert(""), false},
	} {
		if got := namesPeer(c.cert, "east"); got != c.ok {
			t.Errorf("namesPeer(%s, east) = %v, want %v", certNames(c.cert), got, c.ok)
		}
	}
}

func TestTLSFileErrors(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(notPEM, []byte("hello, I am not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	ecKey := func() string { // a SEC 1 "EC PRIVATE KEY" for east's certificate is fine
		b, err := os.ReadFile(p.eastKey)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, filepath.Join(dir, "east-ec.key"), "EC PRIVATE KEY", der)
	}()
	for _, c := range []struct {
		name                string
		ca, cert, key, want string
	}{
		{"missing CA", missing, p.eastCert, p.eastKey, "TLS CA file " + missing + ": no such file or directory"},
		{"CA not PEM", notPEM, p.eastCert, p.eastKey, "TLS CA file " + notPEM + ": not PEM"},
		{"missing cert", p.caFile, missing, p.eastKey, "TLS certificate file " + missing + ": no such file or directory"},
		{"cert not PEM", p.caFile, notPEM, p.eastKey, "TLS certificate file " + notPEM + ": not PEM"},
		{"missing key", p.caFile, p.eastCert, missing, "TLS key file " + missing + ": no such file or directory"},
		{"key not PEM", p.caFile, p.eastCert, notPEM, "TLS key file " + notPEM + ": not PEM"},
		{"key does not match", p.caFile, p.eastCert, p.westKey, "TLS key file " + p.westKey + " does not match the certificate in " + p.eastCert},
		{"swapped", p.caFile, p.eastKey, p.eastCert, "holds a private key, not a certificate (are the certificate and key files swapped?)"},
		{"ec key ok", p.caFile, p.eastCert, ecKey, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errS := ServerTLS(c.ca, c.cert, c.key, "west")
			_, errC := ClientTLS(c.ca, c.cert, c.key, "127.0.0.1")
			for _, err := range []error{errS, errC} {
				if c.want == "" {
					if err != nil {
						t.Errorf("unexpected error: %v", err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want one containing %q", err, c.want)
				}
			}
		})
	}
}
