package filestore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segName returns the file name of segment n.
func segName(n uint32) string { return fmt.Sprintf("%010d.log", n) }

// listSegments returns the numbers of the segment files in dir, in order.
func listSegments(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil || segName(uint32(n)) != e.Name() {
			continue
		}
		out = append(out, uint32(n))
	}
	slices.Sort(out)
	return out, nil
}

// nextFrame returns the offset of the first intact frame after off in b,
// or -1.
func nextFrame(b []byte, off int) int {
	for p := off + 1; p+frameHeader < len(b); p++ {
		if body, _, ok := parseFrame(b[p:]); ok {
			if _, err := parseBody(body); err == nil {
				return p
			}
		}
	}
	return -1
}

// syncDir makes a directory's entries (files created or removed) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// segPath returns the path of segment n in dir.
func segPath(dir string, n uint32) string { return filepath.Join(dir, segName(n)) }
