package filestore

import (
	"math"
	"slices"
	"testing"
)

func TestIDListKeepsEveryIDInOrder(t *testing.T) {
	want := []uint64{
		1, 2, 3, 1 << 40, 7, math.MaxUint64, 0, 5, 5, 4, 6, 7, 8,
		1 << 63, 1, 1<<63 + 2, math.MaxUint64 - 1, math.MaxUint64, 0, 1, 1 << 62, 1<<62 + 1,
	}
	var l idList
	for _, id := range want {
		l.add(id)
	}
	if got := l.ids(); !slices.Equal(got, want) {
		t.Fatalf("ids() = %v; want %v", got, want)
	}
}

func TestIDListRisingIDsTakeFewBytes(t *testing.T) {
	var rising idList
	for id := uint64(1000); id < 101_000; id++ {
		rising.add(id)
	}
	if len(rising.b) > 8 {
		t.Errorf("100,000 ids rising by one take %d bytes; want a few", len(rising.b))
	}
	var gaps idList // a stored job, then a foreground job's id, ...
	for id := uint64(1000); id < 3000; id += 2 {
		gaps.add(id)
	}
	if len(gaps.b) > 1000+2 {
		t.Errorf("1,000 ids rising by two take %d bytes; want about one each", len(gaps.b))
	}
	if got := rising.ids(); len(got) != 100_000 || got[0] != 1000 || got[len(got)-1] != 100_999 {
		t.Errorf("ids() = %d ids, %d ... %d; want 100000, 1000 ... 100999", len(got), got[0], got[len(got)-1])
	}
}
