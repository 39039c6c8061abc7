package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/seed749d6d6d/gearman"
)

// httpSide is the --http listener: gearman.Server.Handler on its own
// address, stopped when the job server stops.
type httpSide struct {
	addr net.Addr
	hs   *http.Server
	wg   sync.WaitGroup
}

// startHTTP serves srv's handler on addr in a goroutine that stop ends.
func startHTTP(srv *gearman.Server, addr string) (*httpSide, error) {
	h := srv.Handler() // before serving: counting starts here
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	s := &httpSide{addr: l.Addr(), hs: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logError(srv.Logger, "--http stopped serving", "err", err)
		}
	}()
	return s, nil
}

// stop ends the HTTP side: requests in flight get a second to finish.
func (s *httpSide) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.hs.Shutdown(ctx) != nil {
		s.hs.Close()
	}
	s.wg.Wait()
}
