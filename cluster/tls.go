package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
)

// TLSConfig turns on mutual TLS on the cluster port: every Raft and RPC
// connection, both ways, is TLS 1.3 and shows a certificate signed by the
// CA. Anything else is refused during the handshake, before a byte reaches
// Raft or the RPC decoder.
type TLSConfig struct {
	// CAFile, CertFile and KeyFile are PEM files: the CA that signs every
	// agent's certificate, this agent's certificate (it serves as both
	// server and client certificate) and its key.
	CAFile, CertFile, KeyFile string
	// VerifyHostname also requires a peer's certificate to name the agent
	// it is: an agent dialing another checks that the certificate names
	// the node it meant to reach, and an agent answering RPC holds the
	// caller to what its certificate names (it may renew and close only
	// its own sessions, announce only its own leave). A server is added
	// to Raft only once it has shown a certificate for its node name.
	VerifyHostname bool
}

// tlsKeys holds the loaded CA and certificate, replaced on reload.
type tlsKeys struct {
	cfg  TLSConfig
	mu   sync.RWMutex
	pool *x509.CertPool
	cert *tls.Certificate
}

func loadTLS(cfg TLSConfig) (*tlsKeys, error) {
	k := &tlsKeys{cfg: cfg}
	if err := k.reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// reload reads the files again; on error the previous keys stay in use.
func (k *tlsKeys) reload() error {
	ca, err := os.ReadFile(k.cfg.CAFile)
	if err != nil {
		return fmt.Errorf("tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("tls ca: no PEM certificate in %s", k.cfg.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(k.cfg.CertFile, k.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s with key %s: %w", k.cfg.CertFile, k.cfg.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("tls certificate %s: %w", k.cfg.CertFile, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("tls certificate %s is not signed by the CA in %s: %w", k.cfg.CertFile, k.cfg.CAFile, err)
	}
	cert.Leaf = leaf
	k.mu.Lock()
	k.pool, k.cert = pool, &cert
	k.mu.Unlock()
	return nil
}

func (k *tlsKeys) current() (*x509.CertPool, *tls.Certificate) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.pool, k.cert
}

// server is the listener's configuration: TLS 1.3, a client certificate
// from the CA required.
func (k *tlsKeys) server() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool, cert := k.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    pool,
			}, nil
		},
	}
}

// client is the configuration for dialing the agent named peer ("" when
// not known). The chain is always checked against the CA; the name only
// with VerifyHostname.
func (k *tlsKeys) client(peer string) (*tls.Config, error) {
	pool, cert := k.current()
	c := &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil },
		RootCAs:              pool,
	}
	if k.cfg.VerifyHostname {
		if peer == "" {
			return nil, errors.New("tls: the agent at this address is not known, so its name cannot be verified")
		}
		c.ServerName = peer
		return c, nil
	}
	// The chain still has to lead to the CA; only the name is not checked.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyChain(cs, pool, x509.ExtKeyUsageServerAuth)
	}
	return c, nil
}

// verifyChain checks a peer's certificate against the CA, without a name.
func verifyChain(cs tls.ConnectionState, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the peer showed no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// peerName is the agent name a verified certificate shows: its first DNS
// name, else its common name.
func peerName(c net.Conn) string {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return ""
	}
	if len(certs[0].DNSNames) > 0 {
		return certs[0].DNSNames[0]
	}
	return certs[0].Subject.CommonName
}

// ListenerTLS is the TLS configuration for another listener of this agent
// (the HTTP endpoint): it serves the agent's certificate, accepts TLS 1.2
// and later, and follows ReloadTLS, so a SIGHUP renews it too. With
// requireClientCert, a client must show a certificate signed by the CA.
func (n *Node) ListenerTLS(requireClientCert bool) (*tls.Config, error) {
	if n.tls == nil {
		return nil, errors.New("TLS is not on: the agent has no certificate (--tls-ca, --tls-cert, --tls-key)")
	}
	k := n.tls
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool, cert := k.current()
			c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}}
			if requireClientCert {
				c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
			}
			return c, nil
		},
	}, nil
}
