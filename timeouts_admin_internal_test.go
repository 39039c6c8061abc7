package gearman

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// A burst of withdrawals on a server that answers each "cancel job"
// slowly (100ms here) but surely: they take turns on the one admin
// connection, each with adminWait from when its turn comes, so all of them
// succeed, however long the line (30 of them, 3s, beyond adminWait), and
// the connection is not marked broken.
func TestCancelJobBurstOnSlowServer(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		r := bufio.NewReader(server)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			if _, err := server.Write([]byte("OK\n")); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &Conn{baseCtx: ctx}
	ac := NewAdminClient(client)
	defer ac.Close()
	a := &connAdmin{ac: ac, unwatch: func() bool { return true }}
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.cancelJob(c, "H:x:1")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("withdrawal %d: %v", i, err)
		}
	}
	if a.broke != nil {
		t.Errorf("admin connection marked broken: %v", a.broke)
	}
}
