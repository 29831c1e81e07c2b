package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgduet/pgduet/agent"
)

// writeCerts makes a CA and, for each node, a certificate naming the node (DNS
// SAN, checked by the peer) and 127.0.0.1 (IP SAN, the agents' address), usable
// as server and client certificate. It returns the files per node.
func writeCerts(t testing.TB, dir string) (ca string, certs map[string][2]string) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgduet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	caCert, _ := x509.ParseCertificate(caDER)
	certs = map[string][2]string{}
	for i, n := range pairNames {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(10 + i)), Subject: pkix.Name{CommonName: n},
			DNSNames: []string{n}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		certs[n] = [2]string{write(n+".pem", "CERTIFICATE", der), write(n+".key", "EC PRIVATE KEY", kder)}
	}
	return ca, certs
}

// TestMutualTLS: two agents configured with tls {} blocks sync both ways; each
// checks that the other's certificate names the peer node.
func TestMutualTLS(t *testing.T) {
	p := newPair(t, pairOpts{schema: `CREATE TABLE kept (id int PRIMARY KEY);`, tls: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p.start("east", agent.Knobs{})
	p.start("west", agent.Knobs{})
	for i, n := range pairNames {
		if _, err := p.conn[n].Exec(ctx, "INSERT INTO kept VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
	}
	res := p.converge(ctx)
	if len(res) != 2 {
		t.Fatalf("verified %d tables, want 2", len(res))
	}
	if l := grepLog(p.logPath, "listening for peer", "tls=true"); len(l) != 2 {
		t.Errorf("%d agents listened with TLS, want 2: %q", len(l), l)
	}
}
