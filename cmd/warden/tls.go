package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// warden tls: a CA and agent certificates for the cluster port's mutual
// TLS, made with Go's crypto alone, for trying TLS out. Production setups
// may use any CA; an agent certificate needs the node name as its first
// DNS name and both server and client authentication.

func init() {
	register("tls", command{
		usage: "ca create [--dir DIR] [--days N] | cert create --node NAME [--ip IP]... [--dir DIR] [--ca FILE --ca-key FILE] [--days N]",
		help:  "make a CA and agent certificates for the cluster port's TLS",
		run:   runTLS,
	})
}

// File names, in --dir.
const (
	caCertFile = "warden-ca.pem"
	caKeyFile  = "warden-ca-key.pem"
)

func runTLS(args []string) error {
	if helpAsked(args) {
		return printVerbUsage("tls")
	}
	if len(args) < 2 || args[1] != "create" || (args[0] != "ca" && args[0] != "cert") {
		return usagef("usage: warden tls ca create | warden tls cert create --node NAME")
	}
	if args[0] == "ca" {
		return runTLSCA(args[2:])
	}
	return runTLSCert(args[2:])
}

func runTLSCA(args []string) error {
	fs := flag.NewFlagSet("tls ca create", flag.ContinueOnError)
	dir := fs.String("dir", ".", "directory to write "+caCertFile+" and "+caKeyFile+" to")
	days := fs.Int("days", 5*365, "days the CA is valid")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *days <= 0 {
		return usagef("usage: warden tls ca create [--dir DIR] [--days N]")
	}
	certPath, keyPath := filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; not overwriting a CA", p)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Warden CA", Organization: []string{"Warden"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(0, 0, *days),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s (keep the key secret)\n", certPath, keyPath)
	return nil
}

func runTLSCert(args []string) error {
	fs := flag.NewFlagSet("tls cert create", flag.ContinueOnError)
	node := fs.String("node", "", "the agent's node name (its --node); the certificate's first DNS name")
	dir := fs.String("dir", ".", "directory to write NODE.pem and NODE-key.pem to")
	caPath := fs.String("ca", caCertFile, "the CA certificate")
	caKeyPath := fs.String("ca-key", caKeyFile, "the CA key")
	days := fs.Int("days", 365, "days the certificate is valid")
	var ips listFlag
	fs.Var(&ips, "ip", "an IP address to include (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *node == "" || *days <= 0 {
		return usagef("usage: warden tls cert create --node NAME [--ip IP]... [--dir DIR] [--ca FILE --ca-key FILE] [--days N]")
	}
	ca, err := tls.LoadX509KeyPair(*caPath, *caKeyPath)
	if err != nil {
		return fmt.Errorf("load the CA (%s, %s): %w", *caPath, *caKeyPath, err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return err
	}
	if !caCert.IsCA {
		return fmt.Errorf("%s is not a CA certificate", *caPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: *node, Organization: []string{"Warden"}},
		DNSNames:     []string{*node},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(0, 0, *days),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return usagef("--ip %q is not an IP address", s)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(*dir, *node+".pem"), filepath.Join(*dir, *node+"-key.pem")
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s for node %s\n", certPath, keyPath, *node)
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM writes one PEM block to a new file with mode perm.
func writePEM(path, kind string, der []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting it", path)
	}
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: kind, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
