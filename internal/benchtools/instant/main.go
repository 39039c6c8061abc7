// Command instant is a stand-in job server that answers every SUBMIT_JOB at
// once, as if a worker had echoed its payload: JOB_CREATED then
// WORK_COMPLETE, in one write (or, with -delay, WORK_COMPLETE after a busy
// wait). It also answers ECHO_REQ and OPTION_REQ. With no server or worker
// work to wait for, a client's jobs/s against it measure the client alone:
// the "client alone" comparison in BENCHMARKS.md.
//
//	go run ./internal/benchtools/instant -addr 127.0.0.1:4731
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/seed749d6d6d/gearman/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4731", "address to listen on")
	delay := flag.Duration("delay", 0, "busy wait between JOB_CREATED and WORK_COMPLETE")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go serve(c, *delay)
	}
}

// serve answers one connection's requests until it fails.
func serve(c net.Conn, delay time.Duration) {
	defer c.Close()
	r := wire.NewReader(c)
	var out []byte
	jobs := 0
	for {
		p, err := r.Next()
		if err != nil {
			return
		}
		out = out[:0]
		switch p.Type {
		case wire.SubmitJob, wire.SubmitJobHigh, wire.SubmitJobLow:
			jobs++
			h := []byte("H:instant:" + strconv.Itoa(jobs))
			data := p.Args[len(p.Args)-1]
			out, _ = wire.AppendPacket(out, wire.Res, wire.JobCreated, h)
			if delay > 0 {
				if _, err := c.Write(out); err != nil {
					return
				}
				out = out[:0]
				for start := time.Now(); time.Since(start) < delay; {
				}
			}
			out, err = wire.AppendPacket(out, wire.Res, wire.WorkComplete, h, data)
		case wire.EchoReq:
			out, err = wire.AppendPacket(out, wire.Res, wire.EchoRes, p.Args[0])
		case wire.OptionReq:
			out, err = wire.AppendPacket(out, wire.Res, wire.OptionRes, p.Args[0])
		default:
			out, err = wire.AppendPacket(out, wire.Res, wire.Error, []byte("UNSUPPORTED"), []byte(p.Type.String()))
		}
		if err != nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
