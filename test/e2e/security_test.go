//go:build e2e

package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// webhookEndpoint is canarygate serve's HTTPS address in the harness.
func webhookEndpoint() string {
	return fmt.Sprintf("127.0.0.1:%d", env.Env.WebhookInstallOptions.LocalServingPort)
}

// protocolOnly is a client TLS config for testing protocol versions: the
// serving certificate is not under test here (the rotation fault spec swaps
// it for one of another CA), so it is not verified.
func protocolOnly(minV, maxV uint16, protos ...string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the protocol is under test, not the certificate
		MinVersion:         minV, MaxVersion: maxV, NextProtos: protos,
	}
}

var _ = Describe("the webhook port", func() {
	It("refuses TLS below 1.2", func(ctx SpecContext) {
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", webhookEndpoint(), protocolOnly(v, v))
			if err == nil {
				_ = conn.Close()
			}
			Expect(err).To(HaveOccurred(), "a TLS %x handshake succeeded", v)
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", webhookEndpoint(), protocolOnly(tls.VersionTLS12, tls.VersionTLS12))
		Expect(err).NotTo(HaveOccurred(), "TLS 1.2 must be accepted")
		Expect(conn.ConnectionState().Version).To(Equal(uint16(tls.VersionTLS12)))
		Expect(conn.ConnectionState().NegotiatedProtocol).NotTo(Equal("h2"))
		_ = conn.Close()
	})

	It("does not speak HTTP/2 unless enabled", func(ctx SpecContext) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", webhookEndpoint(), protocolOnly(tls.VersionTLS12, 0, "h2", "http/1.1"))
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = conn.Close() }()
		Expect(conn.ConnectionState().NegotiatedProtocol).NotTo(Equal("h2"))
	})

	It("refuses plain HTTP", func(ctx SpecContext) {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Post("http://"+webhookEndpoint()+"/validate/gate", "application/json", nil)
		if err == nil {
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(resp.Body)
			// Go's TLS server answers a plain HTTP request with 400 and closes.
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), string(body))
			Expect(string(body)).To(ContainSubstring("HTTPS server"))
		}
	})
})
