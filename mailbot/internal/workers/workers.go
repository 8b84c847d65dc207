// Package workers runs independent pieces of CPU-bound work on every core:
// the examining of a batch's messages and the sealing of its outgoing mail.
// It owns no state and touches no store.
package workers

import (
	"runtime"
	"sync"
)

// Each calls fn(0) to fn(n-1) on GOMAXPROCS goroutines and returns when all
// have returned. fn must not panic (recover inside it).
func Each(n int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}
