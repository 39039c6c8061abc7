package gearman_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/seed749d6d6d/gearman"
)

// BenchmarkStreamPipe pipes 64 MiB per op through a worker and back, three
// ways, in one run (MB/s counts the payload once):
//
//   - gearman: our client, our server and our worker, with the streaming
//     extension: one job, payload and result streamed at once;
//
//   - relay: the practical limit of the same hops, a plain TCP relay
//     (client → relay → echo "worker" → relay → client) copying bytes;
//
//   - gearmand: the C gearmand carrying the same bytes as whole 1 MiB jobs
//     (four in flight), our client and worker.
//
//     go test -run '^$' -bench StreamPipe -benchtime 10x
func BenchmarkStreamPipe(b *testing.B) {
	const size = 64 << 20
	b.Run("gearman", func(b *testing.B) {
		addr := srvStartB(b)
		ctx := context.Background()
		w := dialB(b, addr, &gearman.Options{Streaming: true})
		w.Register("cat", catHandler, nil)
		c := dialB(b, addr, &gearman.Options{Streaming: true})
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			pipeZeros(b, ctx, c, size)
		}
	})
	b.Run("relay", func(b *testing.B) {
		echo := listenB(b, func(c net.Conn) { io.Copy(c, c); c.Close() })
		relay := listenB(b, func(c net.Conn) {
			up, err := net.Dial("tcp", echo)
			if err != nil {
				c.Close()
				return
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); wg.Done() }()
			go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); wg.Done() }()
			wg.Wait()
			up.Close()
			c.Close()
		})
		b.SetBytes(size)
		for b.Loop() {
			c, err := net.Dial("tcp", relay)
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				io.Copy(c, io.LimitReader(zeros{}, size))
				c.(*net.TCPConn).CloseWrite()
			}()
			if n, err := io.Copy(io.Discard, c); n != size || err != nil {
				b.Fatalf("got %d bytes, %v", n, err)
			}
			c.Close()
		}
	})
	b.Run("gearmand-1MiB-jobs", func(b *testing.B) {
		c := benchServer(b, 4, gearman.BytesHandler(func(ctx context.Context, p []byte) ([]byte, error) { return p, nil }))
		ctx := context.Background()
		chunk := make([]byte, 1<<20)
		b.SetBytes(size)
		for b.Loop() {
			var wg sync.WaitGroup
			jobs := make(chan struct{}, size>>20)
			for range size >> 20 {
				jobs <- struct{}{}
			}
			close(jobs)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range jobs {
						task, err := c.Submit(ctx, gearman.Job{Func: "echo", Data: chunk})
						if err != nil {
							b.Error(err)
							return
						}
						if r, err := task.Result(ctx); len(r) != len(chunk) || err != nil {
							b.Errorf("got %d bytes, %v", len(r), err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
	})
}

func srvStartB(b *testing.B) string {
	s := &gearman.Server{HandlePrefix: "H:bench"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	b.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

func dialB(b *testing.B, addr string, o *gearman.Options) *gearman.Conn {
	c, err := gearman.Dial(context.Background(), addr, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// listenB serves each connection of a loopback listener with h.
func listenB(b *testing.B, h func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); h(c) }()
		}
	}()
	b.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}
