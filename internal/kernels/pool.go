package kernels

import (
	"sync"
	"sync/atomic"
)

// task is work shared by several goroutines: run(id) is called once for
// each participant id; participant 0 is always the calling goroutine.
type task interface {
	run(id int)
}

// workItem is one participant's share of a task.
type workItem struct {
	t  task
	id int
	wg *sync.WaitGroup
}

// poolWorker is a long-lived goroutine that runs work items. busy is set
// by whoever hands it an item (acquire) and cleared by the worker before it
// signals completion, so once a caller's WaitGroup returns, every worker it
// used is free again and a back-to-back call finds it idle.
type poolWorker struct {
	busy atomic.Bool
	work chan workItem // capacity 1: a send to an acquired worker never blocks
}

func (w *poolWorker) loop() {
	for it := range w.work {
		it.t.run(it.id)
		w.busy.Store(false)
		it.wg.Done()
	}
}

var (
	poolMu      sync.Mutex
	poolWorkers atomic.Pointer[[]*poolWorker] // grows only; read without the lock
)

// acquire returns an idle pool worker, already marked busy, among the first
// limit workers, starting a new one if fewer than limit exist; it returns
// nil when all of them are busy. It never blocks on other work, so a
// kernel called from inside a ParallelFor chunk (nested parallelism) cannot
// deadlock: it just gets fewer helpers.
func acquire(limit int) *poolWorker {
	if limit <= 0 {
		return nil
	}
	var cur []*poolWorker
	if ws := poolWorkers.Load(); ws != nil {
		cur = *ws
	}
	for i, w := range cur {
		if i >= limit {
			return nil
		}
		if w.busy.CompareAndSwap(false, true) {
			return w
		}
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	cur = nil
	if ws := poolWorkers.Load(); ws != nil {
		cur = *ws
	}
	if len(cur) >= limit {
		return nil
	}
	w := &poolWorker{work: make(chan workItem, 1)}
	w.busy.Store(true)
	next := append(cur[:len(cur):len(cur)], w)
	poolWorkers.Store(&next)
	go w.loop()
	return w
}

// runShared runs t.run(id) on the calling goroutine (id 0) and on up to
// p-1 idle pool workers (ids 1, 2, …), and returns when all have finished.
// Participants that cannot be staffed are skipped, so t must be written as
// a self-scheduling loop over shared work (an atomic counter) in which any
// subset of participants finishes everything. wg must be unused (zero
// count); it is passed in so that callers can embed it in pooled state and
// a call allocates nothing.
func runShared(t task, p int, wg *sync.WaitGroup) {
	limit := Threads() - 1
	for id := 1; id < p; id++ {
		w := acquire(limit)
		if w == nil {
			break
		}
		wg.Add(1)
		w.work <- workItem{t: t, id: id, wg: wg}
	}
	t.run(0)
	wg.Wait()
}

// forTask is ParallelFor's task: chunk id of [0,n) split into t parts.
type forTask struct {
	fn   func(lo, hi int)
	n, t int
	wg   sync.WaitGroup
}

func (f *forTask) run(id int) { f.fn(id*f.n/f.t, (id+1)*f.n/f.t) }
