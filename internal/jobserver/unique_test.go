package jobserver

import (
	"math/rand/v2"
	"testing"
)

// The unique index agrees with a plain model under random indexing (in any
// order of ids, as a replay may) and removal: the lookup per function, the
// oldest job per key, and no entries left behind in sharedUniques.
func TestUniqueIndexModel(t *testing.T) {
	s := &Server{uniques: map[string]*job{}, sharedUniques: map[uniqueRef]*job{}}
	fns := make([]*function, 5)
	for i := range fns {
		fns[i] = &function{name: string(rune('a' + i))}
	}
	keys := []string{"k1", "k2", "k3"}
	model := map[uniqueRef]*job{}
	rng := rand.New(rand.NewPCG(1, 2))
	var nextID uint64
	used := map[uint64]bool{}
	check := func(step int) {
		t.Helper()
		for _, k := range keys {
			var oldest *job
			holders := 0
			for _, f := range fns {
				want := model[uniqueRef{f, k}]
				if got := s.uniqueJob(f, k); got != want {
					t.Fatalf("step %d: uniqueJob(%s, %s) = %v; want %v", step, f.name, k, got, want)
				}
				if want != nil {
					holders++
					if oldest == nil || want.id < oldest.id {
						oldest = want
					}
				}
			}
			if got := s.oldestUnique(k); got != oldest {
				t.Fatalf("step %d: oldestUnique(%s) = %v; want %v", step, k, got, oldest)
			}
			n := 0
			for r := range s.sharedUniques {
				if r.key == k {
					n++
				}
			}
			if want := map[bool]int{true: holders, false: 0}[holders > 1]; n != want {
				t.Fatalf("step %d: %d entries of %s in sharedUniques; want %d", step, n, k, want)
			}
		}
	}
	for step := range 20000 {
		f, k := fns[rng.IntN(len(fns))], keys[rng.IntN(len(keys))]
		r := uniqueRef{f, k}
		if j := model[r]; j != nil && rng.IntN(2) == 0 {
			s.unindexUnique(j, k)
			delete(model, r)
			if j.uprev != nil || j.unext != nil {
				t.Fatalf("step %d: a removed job keeps its links", step)
			}
		} else {
			nextID += 1 + rng.Uint64N(8)
			id := nextID
			if rng.IntN(4) == 0 { // out of order, as a replay may be
				for id = rng.Uint64N(nextID); used[id]; id = rng.Uint64N(nextID) {
				}
			}
			used[id] = true
			j := &job{id: id, fn: f}
			s.indexUnique(j, k)
			if old := model[r]; old != nil && (old.uprev != nil || old.unext != nil) {
				t.Fatalf("step %d: the replaced job keeps its links", step)
			}
			model[r] = j
		}
		check(step)
	}
	for r, j := range model {
		s.unindexUnique(j, r.key)
	}
	if len(s.uniques) != 0 || len(s.sharedUniques) != 0 {
		t.Errorf("after removing every job: %d uniques, %d shared; want none", len(s.uniques), len(s.sharedUniques))
	}
}
