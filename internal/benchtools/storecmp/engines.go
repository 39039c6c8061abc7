package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite"
)

func key(h uint64) []byte { return binary.BigEndian.AppendUint64(nil, h) }

// boltStore keeps jobs in one bucket keyed by big-endian handle. Concurrent
// puts share a commit through DB.Batch (bbolt's own grouping: up to
// MaxBatchSize calls or MaxBatchDelay, 1000 and 10ms by default); one
// submitter uses Update, as Batch would wait out its delay alone.
type boltStore struct {
	db *bolt.DB
}

var bucket = []byte("jobs")

func openBolt(dir string) (Store, error) {
	db, err := bolt.Open(filepath.Join(dir, "jobs.bolt"), 0o600, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	if boltDelay > 0 {
		db.MaxBatchDelay = boltDelay
	}
	return &boltStore{db: db}, nil
}

// boltDelay, if not 0, is bbolt's MaxBatchDelay.
var boltDelay time.Duration

// single is set when there is one submitter.
var single bool

func (s *boltStore) Put(_ context.Context, h uint64, rec []byte) error {
	f := func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key(h), rec) }
	if single {
		return s.db.Update(f)
	}
	return s.db.Batch(f)
}

func (s *boltStore) Finish(hs []uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, h := range hs {
			if err := b.Delete(key(h)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) Load(hs []uint64, recs [][]byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		b.FillPercent = 0.9
		for i, h := range hs {
			if err := b.Put(key(h), recs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) Replay(fn func(uint64, []byte) error, _ func(uint64)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			return fn(binary.BigEndian.Uint64(k), v)
		})
	})
}

func (s *boltStore) Close() error { return s.db.Close() }

// pebbleStore keeps jobs keyed by big-endian handle. Puts are Set with
// pebble.Sync from every submitter; pebble groups concurrent commits into
// one WAL write and sync itself.
type pebbleStore struct {
	db *pebble.DB
}

type quiet struct{}

func (quiet) Infof(string, ...any)      {}
func (quiet) Errorf(f string, a ...any) { fmt.Printf("pebble: "+f+"\n", a...) }
func (quiet) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func openPebble(dir string) (Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		return nil, err
	}
	return &pebbleStore{db: db}, nil
}

func (s *pebbleStore) Put(_ context.Context, h uint64, rec []byte) error {
	return s.db.Set(key(h), rec, pebble.Sync)
}

func (s *pebbleStore) Finish(hs []uint64) error {
	b := s.db.NewBatch()
	for _, h := range hs {
		if err := b.Delete(key(h), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

func (s *pebbleStore) Load(hs []uint64, recs [][]byte) error {
	b := s.db.NewBatch()
	for i, h := range hs {
		if err := b.Set(key(h), recs[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (s *pebbleStore) Replay(fn func(uint64, []byte) error, _ func(uint64)) error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(binary.BigEndian.Uint64(it.Key()), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func (s *pebbleStore) Close() error {
	// Make the unsynced finishes durable before closing.
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return err
	}
	return s.db.Close()
}

// sqliteStore keeps jobs in a table (handle INTEGER PRIMARY KEY, rec BLOB)
// in WAL mode with synchronous=FULL. One goroutine owns the connection and
// commits every pending put in one transaction (group commit by hand:
// database/sql has no way to share a commit between callers).
type sqliteStore struct {
	db   *sql.DB
	reqs chan putReq
	done chan struct{}
}

type putReq struct {
	h    uint64
	rec  []byte
	errc chan error
}

func openSQLite(dir string) (Store, error) {
	dsn := "file:" + filepath.Join(dir, "jobs.db") +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS jobs (handle INTEGER PRIMARY KEY, rec BLOB NOT NULL)`); err != nil {
		db.Close()
		return nil, err
	}
	s := &sqliteStore{db: db, reqs: make(chan putReq, 4096), done: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

func (s *sqliteStore) commitLoop() {
	defer close(s.done)
	var group []putReq
	for r := range s.reqs {
		group = append(group[:0], r)
	drain:
		for len(group) < 4096 {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		err := s.tx(func(tx *sql.Tx) error {
			st, err := tx.Prepare(`INSERT INTO jobs (handle, rec) VALUES (?, ?)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, r := range group {
				if _, err := st.Exec(int64(r.h), r.rec); err != nil {
					return err
				}
			}
			return nil
		})
		for _, r := range group {
			r.errc <- err
		}
	}
}

func (s *sqliteStore) tx(fn func(*sql.Tx) error) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *sqliteStore) Put(ctx context.Context, h uint64, rec []byte) error {
	errc := make(chan error, 1)
	select {
	case s.reqs <- putReq{h: h, rec: rec, errc: errc}:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-errc
}

func (s *sqliteStore) Finish(hs []uint64) error {
	return s.tx(func(tx *sql.Tx) error {
		st, err := tx.Prepare(`DELETE FROM jobs WHERE handle = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, h := range hs {
			if _, err := st.Exec(int64(h)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqliteStore) Load(hs []uint64, recs [][]byte) error {
	return s.tx(func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT INTO jobs (handle, rec) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, h := range hs {
			if _, err := st.Exec(int64(h), recs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqliteStore) Replay(fn func(uint64, []byte) error, _ func(uint64)) error {
	rows, err := s.db.Query(`SELECT handle, rec FROM jobs ORDER BY handle`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var h int64
	var rec []byte
	for rows.Next() {
		if err := rows.Scan(&h, &rec); err != nil {
			return err
		}
		if err := fn(uint64(h), rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *sqliteStore) Close() error {
	close(s.reqs)
	<-s.done
	return s.db.Close()
}
