package gearman_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/seed749d6d6d/gearman"
	"github.com/seed749d6d6d/gearman/internal/peertest"
)

// The Perl Gearman::Server answers GRAB_JOB_UNIQ with ERROR: our worker must
// fall back to GRAB_JOB and keep working.
func TestPerlServer(t *testing.T) {
	addr := peertest.Script(t, "start-perl-gearmand.sh")
	testPeerServer(t, addr)
}

// The abraxas server sends NOOPs to a worker whose grab is unanswered.
func TestAbraxasServer(t *testing.T) {
	addr := peertest.Script(t, "start-abraxas-server.sh")
	testPeerServer(t, addr)
}

func testPeerServer(t *testing.T, addr string) {
	ctx := testCtx(t)
	w := dial(t, addr, &gearman.Options{MaxJobs: 4})
	if err := w.Register("reverse", reverseHandler, nil); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, nil)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := fmt.Sprintf("job-%02d", i)
			got, err := mustSubmit(t, ctx, c, "reverse", in).Result(ctx)
			if err != nil || string(got) != string(reverse([]byte(in))) {
				t.Errorf("job %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}
