package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// task is work shared by several goroutines: run(id) is called once for
// each participant id; participant 0 is always the calling goroutine.
type task interface {
	run(id int)
}

// workItem is one participant's share of a task, handed out at time sent
// (see now).
type workItem struct {
	t    task
	id   int
	wg   *sync.WaitGroup
	sent time.Duration
}

// epoch is the origin of now.
var epoch = time.Now()

// now is a monotonic clock reading.
func now() time.Duration { return time.Since(epoch) }

// spinWait is how long an idle pool worker keeps polling for its next item
// before it parks, and how long a caller polls for its helpers to finish
// before it blocks. A decode step hands out about a hundred products back
// to back, each a fraction of a millisecond: waking a parked goroutine for
// each (a futex wake, some microseconds to tens of them) would cost a good
// part of the step, while polling briefly is cheap on an idle machine.
//
// On an oversubscribed machine polling is harmful: the goroutine waited for
// is often not running at all, and the poller holds a core it could use.
// spinLate tracks how often what is waited for (the next item, or a
// helper's end) comes more than spinWait after the wait began — measured
// from the time it was sent or finished, so that a waiter that parked does
// not count its own wake-up latency: +4 per late arrival, −1 per timely
// one, within [0, 64]. Above 16 (more than about one arrival in five late)
// the polls are cut to spinShort.
const (
	spinWait  = 50 * time.Microsecond
	spinShort = 2 * time.Microsecond
)

var spinLate atomic.Int32

// spinBudget is the current polling time.
func spinBudget() time.Duration {
	if spinLate.Load() > 16 {
		return spinShort
	}
	return spinWait
}

// spinResult records that what a wait waited for came after waited.
func spinResult(waited time.Duration) {
	if waited <= spinWait {
		if spinLate.Load() > 0 {
			spinLate.Add(-1)
		}
		return
	}
	if spinLate.Add(4) > 64 {
		spinLate.Store(64)
	}
}

// poolWorker is a long-lived goroutine that runs work items. busy is set
// by whoever hands it an item (acquire) and cleared by the worker before it
// signals completion, so once a caller's WaitGroup returns, every worker it
// used is free again and a back-to-back call finds it idle. done counts the
// items finished, incremented after the WaitGroup is signalled, so that a
// caller may poll it instead of blocking; doneAt is when the last one
// finished.
type poolWorker struct {
	busy   atomic.Bool
	done   atomic.Uint64
	doneAt atomic.Int64
	work   chan workItem // capacity 1: a send to an acquired worker never blocks
	_      [64]byte      // keep workers' counters on separate cache lines
}

func (w *poolWorker) loop() {
	for {
		it, ok := w.next()
		if !ok {
			return
		}
		it.t.run(it.id)
		w.doneAt.Store(int64(now()))
		w.busy.Store(false)
		it.wg.Done()
		w.done.Add(1)
	}
}

// next returns the next work item, polling the channel for up to the spin
// budget before blocking on it.
func (w *poolWorker) next() (workItem, bool) {
	select {
	case it, ok := <-w.work:
		return it, ok
	default:
	}
	start := now()
	budget := spinBudget()
	for i := 0; ; i++ {
		select {
		case it, ok := <-w.work:
			spinResult(it.sent - start)
			return it, ok
		default:
		}
		if i&15 == 15 {
			if now()-start > budget {
				break
			}
			runtime.Gosched()
		}
	}
	it, ok := <-w.work
	spinResult(it.sent - start)
	return it, ok
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

// helpers records the pool workers a caller handed items to, and the value
// of each one's done counter that means its item is finished.
type helpers struct {
	n    int
	w    [15]*poolWorker
	want [15]uint64
}

// hand gives w the item (t, id) and records it; w must have been acquired
// (so it is idle: its done counter is final until it runs the item).
func (h *helpers) hand(w *poolWorker, t task, id int, wg *sync.WaitGroup) {
	if h.n < len(h.w) {
		h.w[h.n], h.want[h.n] = w, w.done.Load()+1
		h.n++
	}
	wg.Add(1)
	w.work <- workItem{t: t, id: id, wg: wg, sent: now()}
}

// wait returns when every item handed out through h and wg is finished:
// it polls the recorded workers for up to the spin budget, then blocks on
// wg.
func (h *helpers) wait(wg *sync.WaitGroup) {
	var start, budget time.Duration
	for i := 0; i < h.n; {
		if h.w[i].done.Load() >= h.want[i] {
			i++
			continue
		}
		if start == 0 {
			start, budget = now(), spinBudget()
		} else if now()-start > budget {
			break
		}
		runtime.Gosched()
	}
	wg.Wait()
	if start != 0 {
		var last time.Duration
		for _, w := range h.w[:h.n] {
			last = max(last, time.Duration(w.doneAt.Load()))
		}
		spinResult(last - start)
	}
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
	var h helpers
	for id := 1; id < p; id++ {
		w := acquire(limit)
		if w == nil {
			break
		}
		h.hand(w, t, id, wg)
	}
	t.run(0)
	h.wait(wg)
}

// forTask is ParallelFor's task: chunk id of [0,n) split into t parts.
type forTask struct {
	fn   func(lo, hi int)
	n, t int
	wg   sync.WaitGroup
}

func (f *forTask) run(id int) { f.fn(id*f.n/f.t, (id+1)*f.n/f.t) }
