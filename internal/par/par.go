// Package par runs independent work items on a few goroutines.
package par

import (
	"sync"
	"sync/atomic"
)

// Each runs f(0..n-1) on up to workers goroutines, which take indexes from a
// shared counter (a hand-off per item through a channel costs as much as
// small items on a small machine); with one item or one worker it runs
// inline.
func Each(n, workers int, f func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
