package store

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// run starts n goroutines running fn(i), recovering panics into test errors,
// and waits for all of them.
func run(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Errorf("goroutine %d panicked: %v", i, r)
				}
			}()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openTest(t)
	const writers, perWriter = 4, 15
	run(t, writers+2, func(g int) error {
		for i := range perWriter {
			if g >= writers { // readers
				err := s.View(func(tx *Tx) error {
					_, _ = tx.CaseByMessageID(fmt.Sprintf("m%d.%d@x", g%writers, i))
					return tx.Cases(func(*Case) bool { return true })
				})
				if err != nil {
					return err
				}
				continue
			}
			err := s.Update(func(tx *Tx) error {
				c := &Case{Reporter: fmt.Sprintf("w%d@x", g)}
				if err := tx.NewCase(c); err != nil {
					return err
				}
				return tx.AddMessage(&Message{CaseID: c.ID, Hash: sum(fmt.Sprint(g, i)), MessageID: fmt.Sprintf("m%d.%d@x", g, i)})
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx *Tx) error {
		refs := map[string]bool{}
		tx.Cases(func(c *Case) bool { refs[c.Ref] = true; return true })
		if len(refs) != writers*perWriter {
			t.Errorf("distinct refs = %d, want %d", len(refs), writers*perWriter)
		}
		for g := range writers {
			for i := range perWriter {
				if _, ok := tx.CaseByMessageID(fmt.Sprintf("m%d.%d@x", g, i)); !ok {
					t.Errorf("CaseByMessageID(m%d.%d@x) = false", g, i)
				}
			}
		}
		return nil
	})
}

func TestConcurrentSpoolSameBytes(t *testing.T) {
	s := openTest(t)
	data := bytes.Repeat([]byte("same message\r\n"), 3000)
	blobs := make([]Blob, 4)
	run(t, len(blobs), func(i int) error {
		b, err := s.SpoolRaw(bytes.NewReader(data), 0)
		blobs[i] = b
		return err
	})
	for _, b := range blobs {
		if b.Hash != sum(string(data)) || b.Size != int64(len(data)) {
			t.Errorf("SpoolRaw() = %+v, want hash %s", b, sum(string(data)))
		}
	}
	if names := rawEntries(t, s); len(names) != 1 {
		t.Errorf("raw dir holds %v, want one file", names)
	}
}
