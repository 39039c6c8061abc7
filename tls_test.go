package gearman_test

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/seed749d6d6d/gearman"
)

// Client, worker, pool and admin client over TLS to our server; a client
// that does not trust the server's certificate is refused.
func TestClientTLS(t *testing.T) {
	cert, roots := selfSigned(t)
	addr := srvStart(t, &gearman.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	ctx := testCtx(t)
	opts := gearman.Options{TLSConfig: &tls.Config{RootCAs: roots}}

	p := newPool(t, []string{addr}, &gearman.PoolOptions{Options: opts})
	p.Register("reverse", reverseHandler, nil)
	waitLive(t, ctx, p, 1)
	task, err := p.Submit(ctx, gearman.Job{Func: "reverse", Data: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := task.Result(ctx); err != nil || string(got) != "terces" {
		t.Fatalf("job over TLS: %q, %v", got, err)
	}

	a := p.Admin()
	defer a.Close()
	res := a.Version(ctx)
	if len(res) != 1 || res[0].Err != nil || res[0].Value == "" {
		t.Errorf("admin over TLS: %+v", res)
	}

	_, err = gearman.Dial(ctx, addr, &gearman.Options{TLSConfig: &tls.Config{}})
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("Dial trusting nothing: %v; want a certificate error", err)
	}
}
