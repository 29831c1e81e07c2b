package transport

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// ServerTLS builds the TLS configuration of an agent's listener, for mutual TLS:
//
//   - it presents the certificate in certFile with the key in keyFile;
//   - it requires a client certificate and verifies it against the CA
//     certificate(s) in caFile: chain, validity period, and the clientAuth
//     extended key usage (a certificate used by both agents for both roles needs
//     serverAuth and clientAuth);
//   - it then requires that certificate to name the expected peer: a DNS
//     subject alternative name equal to peerName (ASCII case-insensitive), or a
//     subject common name equal to peerName. Anything else is refused with a
//     bad-certificate alert, and the failure is logged by the Server.
func ServerTLS(caFile, certFile, keyFile string, peerName string) (*tls.Config, error) {
	if peerName == "" {
		return nil, errors.New("server TLS: no peer name to check client certificates against")
	}
	pool, err := loadCA(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("certificate problem: the client sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			if namesPeer(leaf, peerName) {
				return nil
			}
			return fmt.Errorf("certificate problem: the client certificate names %s, not the peer %q", certNames(leaf), peerName)
		},
	}, nil
}

// ClientTLS builds the TLS configuration for dialing the peer: it presents
// certFile/keyFile (the peer checks that it names this node) and verifies the
// peer's certificate against caFile for serverHost (a DNS name or IP address that
// must appear in the certificate's subject alternative names).
func ClientTLS(caFile, certFile, keyFile, serverHost string) (*tls.Config, error) {
	if serverHost == "" {
		return nil, errors.New("client TLS: no server host to verify the peer's certificate for")
	}
	pool, err := loadCA(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverHost,
	}, nil
}

func namesPeer(c *x509.Certificate, name string) bool {
	for _, n := range c.DNSNames {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return c.Subject.CommonName == name
}

func certNames(c *x509.Certificate) string {
	var names []string
	for _, n := range c.DNSNames {
		names = append(names, fmt.Sprintf("DNS:%q", n))
	}
	if c.Subject.CommonName != "" {
		names = append(names, fmt.Sprintf("CN:%q", c.Subject.CommonName))
	}
	if len(names) == 0 {
		return "no DNS name or common name"
	}
	return strings.Join(names, ", ")
}

// readPEMFile reads a PEM file; what says what the file is for, in errors.
func readPEMFile(what, file string) ([]byte, error) {
	if file == "" {
		return nil, fmt.Errorf("TLS %s file: no path given", what)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("TLS %s file %s: %w", what, file, err)
	}
	return data, nil
}

// pemBlocks returns the PEM blocks of data.
func pemBlocks(data []byte) []*pem.Block {
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return blocks
		}
		blocks = append(blocks, b)
	}
}

func loadCA(file string) (*x509.CertPool, error) {
	data, err := readPEMFile("CA", file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for _, b := range pemBlocks(data) {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("TLS CA file %s: certificate %d: %v", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("TLS CA file %s: not PEM: no CERTIFICATE block found", file)
	}
	return pool, nil
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEMFile("certificate", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEMFile("key", keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}

	var chain [][]byte
	sawKey := false
	for _, b := range pemBlocks(certPEM) {
		switch {
		case b.Type == "CERTIFICATE":
			chain = append(chain, b.Bytes)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			sawKey = true
		}
	}
	if len(chain) == 0 {
		if sawKey {
			return tls.Certificate{}, fmt.Errorf("TLS certificate file %s holds a private key, not a certificate (are the certificate and key files swapped?)", certFile)
		}
		return tls.Certificate{}, fmt.Errorf("TLS certificate file %s: not PEM: no CERTIFICATE block found", certFile)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate file %s: %v", certFile, err)
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("TLS certificate file %s: the certificate expired on %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}

	var keyBlock *pem.Block
	sawCert := false
	for _, b := range pemBlocks(keyPEM) {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			keyBlock = b
			break
		}
		sawCert = sawCert || b.Type == "CERTIFICATE"
	}
	switch {
	case keyBlock == nil && sawCert:
		return tls.Certificate{}, fmt.Errorf("TLS key file %s holds a certificate, not a private key (are the certificate and key files swapped?)", keyFile)
	case keyBlock == nil:
		return tls.Certificate{}, fmt.Errorf("TLS key file %s: not PEM: no PRIVATE KEY block found", keyFile)
	case keyBlock.Type == "ENCRYPTED PRIVATE KEY" || keyBlock.Headers["Proc-Type"] != "":
		return tls.Certificate{}, fmt.Errorf("TLS key file %s: the private key is encrypted; pgduet needs an unencrypted key", keyFile)
	}
	key, err := parseKey(keyBlock.Bytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key file %s: %v", keyFile, err)
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return tls.Certificate{}, fmt.Errorf("TLS key file %s does not match the certificate in %s", keyFile, certFile)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// parseKey parses a PKCS #8, SEC 1 (EC) or PKCS #1 (RSA) private key.
func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("cannot parse the private key (want PKCS #8, EC or PKCS #1)")
}
