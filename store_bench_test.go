package gearman_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/wire"
)

// BenchmarkSubmitBackground: pipelined background submits of 64-byte jobs
// with unique ids on one connection, each answered JOB_CREATED; on the
// embedded store (each answer waits for its record's sync, shared by many)
// and in memory. The queue grows by b.N jobs; nothing runs them.
func BenchmarkSubmitBackground(b *testing.B) {
	for _, mode := range []string{"store", "memory"} {
		b.Run(mode, func(b *testing.B) {
			s := &gearman.Server{}
			if mode == "store" {
				st, err := gearman.OpenStore(b.Context(), "file:"+b.TempDir(), nil)
				if err != nil {
					b.Fatal(err)
				}
				s.Store = st
			}
			addr := srvStart(b, s)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			b.ReportAllocs()
			b.ResetTimer()
			errc := make(chan error, 1)
			go func() {
				r := wire.NewReader(nc)
				for range b.N {
					p, err := r.Next()
					if err == nil && p.Type != wire.JobCreated {
						err = fmt.Errorf("got %v, want JOB_CREATED", p.Type)
					}
					if err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			w := bufio.NewWriterSize(nc, 64<<10)
			data := make([]byte, 64)
			var pkt, unique []byte
			for i := range b.N {
				unique = strconv.AppendInt(append(unique[:0], "job-"...), int64(i), 10)
				pkt, _ = wire.AppendPacket(pkt[:0], wire.Req, wire.SubmitJobBg, []byte("bench"), unique, data)
				w.Write(pkt)
			}
			w.Flush()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}
