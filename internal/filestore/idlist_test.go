package filestore

import (
	"math"
	"slices"
	"testing"
)

func TestIDListKeepsEveryIDInOrder(t *testing.T) {
	want := []uint64{1, 2, 3, 1 << 40, 7, math.MaxUint64, 0, 5, 5, 4}
	var l idList
	for _, id := range want {
		l.add(id)
	}
	if got := l.ids(); !slices.Equal(got, want) {
		t.Fatalf("ids() = %v; want %v", got, want)
	}
	var rising idList
	for id := uint64(1000); id < 2000; id++ {
		rising.add(id)
	}
	if len(rising.b) > 1000+2 {
		t.Fatalf("1,000 rising ids take %d bytes; want about one each", len(rising.b))
	}
}
