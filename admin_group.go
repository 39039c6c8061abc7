package gearman

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// PerServer is one server's answer to a call of an [AdminGroup]: the
// server's address, and its value or its error.
type PerServer[T any] struct {
	Addr  string
	Value T
	Err   error
}

// AdminGroup sends each admin call to several job servers at once and
// returns every server's answer, in the order of the addresses it was made
// with.
//
// It keeps one [AdminClient] per server, dialled on first use and dialled
// again by the next call after its connection was lost, so a server that is
// down only makes its own answers errors. It is safe for concurrent use.
type AdminGroup struct {
	opts    *AdminOptions
	servers []*adminMember
}

type adminMember struct {
	addr string
	mu   sync.Mutex // guards c and done; held while dialling
	c    *AdminClient
	done bool
}

// NewAdminGroup returns an AdminGroup for the servers at addrs ("host:port"
// each), which it dials with opts (nil means defaults, as for [DialAdmin]).
// It connects to none of them until a call.
func NewAdminGroup(addrs []string, opts *AdminOptions) *AdminGroup {
	g := &AdminGroup{opts: opts}
	for _, addr := range addrs {
		g.servers = append(g.servers, &adminMember{addr: addr})
	}
	return g
}

// Addrs returns the servers' addresses.
func (g *AdminGroup) Addrs() []string {
	out := make([]string, len(g.servers))
	for i, m := range g.servers {
		out[i] = m.addr
	}
	return out
}

// Close closes every server's connection. Later calls answer each server
// with an error wrapping [ErrClosed]. Close is idempotent.
func (g *AdminGroup) Close() error {
	var errs []error
	for _, m := range g.servers {
		m.mu.Lock()
		m.done = true
		if m.c != nil {
			errs = append(errs, m.c.Close())
		}
		m.mu.Unlock()
	}
	return errors.Join(errs...)
}

// client returns the member's client, dialling a new one when there is none
// or the last one broke.
func (m *adminMember) client(ctx context.Context, opts *AdminOptions) (*AdminClient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return nil, fmt.Errorf("gearman: admin group: %w", ErrClosed)
	}
	if m.c != nil && m.c.adminErr() == nil {
		return m.c, nil
	}
	if m.c != nil {
		m.c.Close()
		m.c = nil
	}
	c, err := DialAdmin(ctx, m.addr, opts)
	if err != nil {
		return nil, err
	}
	m.c = c
	return c, nil
}

// AdminEach calls f with every server's client of g at once, and returns
// each server's answer once all have answered. It serves calls AdminGroup
// has no method for.
func AdminEach[T any](ctx context.Context, g *AdminGroup, f func(context.Context, *AdminClient) (T, error)) []PerServer[T] {
	out := make([]PerServer[T], len(g.servers))
	var wg sync.WaitGroup
	for i, m := range g.servers {
		out[i].Addr = m.addr
		wg.Go(func() {
			c, err := m.client(ctx, g.opts)
			if err != nil {
				out[i].Err = err
				return
			}
			out[i].Value, out[i].Err = f(ctx, c)
		})
	}
	wg.Wait()
	return out
}

// adminEachErr is AdminEach for calls that return only an error.
func adminEachErr(ctx context.Context, g *AdminGroup, f func(context.Context, *AdminClient) error) []PerServer[struct{}] {
	return AdminEach(ctx, g, func(ctx context.Context, c *AdminClient) (struct{}, error) {
		return struct{}{}, f(ctx, c)
	})
}

// Status calls [AdminClient.Status] on every server.
func (g *AdminGroup) Status(ctx context.Context) []PerServer[[]FunctionStatus] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).Status))
}

// PriorityStatus calls [AdminClient.PriorityStatus] on every server.
func (g *AdminGroup) PriorityStatus(ctx context.Context) []PerServer[[]PriorityStatus] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).PriorityStatus))
}

// Workers calls [AdminClient.Workers] on every server.
func (g *AdminGroup) Workers(ctx context.Context) []PerServer[[]WorkerInfo] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).Workers))
}

// ShowJobs calls [AdminClient.ShowJobs] on every server.
func (g *AdminGroup) ShowJobs(ctx context.Context) []PerServer[[]JobInfo] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).ShowJobs))
}

// ShowUniqueJobs calls [AdminClient.ShowUniqueJobs] on every server.
func (g *AdminGroup) ShowUniqueJobs(ctx context.Context) []PerServer[[]string] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).ShowUniqueJobs))
}

// Version calls [AdminClient.Version] on every server.
func (g *AdminGroup) Version(ctx context.Context) []PerServer[string] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).Version))
}

// Verbose calls [AdminClient.Verbose] on every server.
func (g *AdminGroup) Verbose(ctx context.Context) []PerServer[string] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).Verbose))
}

// PID calls [AdminClient.PID] on every server.
func (g *AdminGroup) PID(ctx context.Context) []PerServer[int] {
	return AdminEach(ctx, g, adminMethod((*AdminClient).PID))
}

// CancelJob calls [AdminClient.CancelJob] on every server. A handle names a
// job of one server, so the others answer UNKNOWN_JOB.
func (g *AdminGroup) CancelJob(ctx context.Context, handle string) []PerServer[struct{}] {
	return adminEachErr(ctx, g, func(ctx context.Context, c *AdminClient) error { return c.CancelJob(ctx, handle) })
}

// CreateFunction calls [AdminClient.CreateFunction] on every server.
func (g *AdminGroup) CreateFunction(ctx context.Context, name string) []PerServer[struct{}] {
	return adminEachErr(ctx, g, func(ctx context.Context, c *AdminClient) error { return c.CreateFunction(ctx, name) })
}

// DropFunction calls [AdminClient.DropFunction] on every server.
func (g *AdminGroup) DropFunction(ctx context.Context, name string) []PerServer[struct{}] {
	return adminEachErr(ctx, g, func(ctx context.Context, c *AdminClient) error { return c.DropFunction(ctx, name) })
}

// MaxQueue calls [AdminClient.MaxQueue] on every server.
func (g *AdminGroup) MaxQueue(ctx context.Context, fn string, high, normal, low int) []PerServer[struct{}] {
	return adminEachErr(ctx, g, func(ctx context.Context, c *AdminClient) error { return c.MaxQueue(ctx, fn, high, normal, low) })
}

// MaxQueueAll calls [AdminClient.MaxQueueAll] on every server.
func (g *AdminGroup) MaxQueueAll(ctx context.Context, fn string, n int) []PerServer[struct{}] {
	return adminEachErr(ctx, g, func(ctx context.Context, c *AdminClient) error { return c.MaxQueueAll(ctx, fn, n) })
}

// Shutdown calls [AdminClient.Shutdown] on every server.
func (g *AdminGroup) Shutdown(ctx context.Context, graceful bool) []PerServer[struct{}] {
	return adminEachErr(ctx, g, func(ctx context.Context, c *AdminClient) error { return c.Shutdown(ctx, graceful) })
}

// adminMethod turns a method expression of AdminClient into the argument
// order of AdminEach.
func adminMethod[T any](m func(*AdminClient, context.Context) (T, error)) func(context.Context, *AdminClient) (T, error) {
	return func(ctx context.Context, c *AdminClient) (T, error) { return m(c, ctx) }
}
