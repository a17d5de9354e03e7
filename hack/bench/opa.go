package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/canarygate/canarygate/pkg/policy"
)

// opaServer is a running `opa run --server` with canarygate's built-in
// policies and data, serving HTTPS on the loopback.
type opaServer struct {
	cmd  *exec.Cmd
	URL  string
	CA   *x509.CertPool
	Args []string
}

// startOPA writes the built-in policies and data into dir and starts bin
// (the opa binary) on a free loopback port with a certificate of its own.
func startOPA(ctx context.Context, bin, dir string, log io.Writer) (*opaServer, error) {
	src, err := policy.Builtin(false)
	if err != nil {
		return nil, err
	}
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		return nil, err
	}
	for name, text := range src.Modules {
		if err := os.WriteFile(filepath.Join(pol, filepath.Base(name)), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	data, err := json.Marshal(src.Data)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(pol, "data.json"), data, 0o644); err != nil {
		return nil, err
	}
	ca, certFile, keyFile, err := selfSigned(dir)
	if err != nil {
		return nil, err
	}
	port := freePort()
	s := &opaServer{URL: fmt.Sprintf("https://127.0.0.1:%d", port), CA: ca}
	s.Args = []string{"run", "--server", "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile,
		"--log-level", "error", "--skip-version-check", pol}
	s.cmd = exec.Command(bin, s.Args...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting opa: %w", err)
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.URL + "/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.stop()
	return nil, errors.New("opa did not become healthy within 30s")
}

// stop ends the opa process started by startOPA (its own process group).
func (s *opaServer) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	stopGroup(s.cmd)
}

// stopGroup ends a process started in its own process group: SIGTERM, then
// SIGKILL after 10 s, and waits for it (and its output copying) to finish.
func stopGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// selfSigned writes a CA-signed serving certificate for 127.0.0.1 into dir.
func selfSigned(dir string) (*x509.CertPool, string, string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "canarygate bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, "", "", err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, "", "", err
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, "", "", err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, certFile, keyFile, nil
}

// freePort returns a free TCP port on the loopback interface.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
