//go:build linux

package kernels

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestQ8HugePages checks the layout of a shared allocation (aligned,
// zero, disjoint matrices) and logs whether the kernel backed a large one
// with transparent huge pages (it may not: THP off, or no free 2 MiB
// pages).
func TestQ8HugePages(t *testing.T) {
	ws := NewQ8Matrices([2]int{1024, 1024}, [2]int{8292, 1024}, [2]int{3, 100}, [2]int{1024, 2688})
	for i, w := range ws {
		if p := uintptr(unsafe.Pointer(&w.data[0])); p%64 != 0 {
			t.Errorf("matrix %d at %#x: not 64-byte aligned", i, p)
		}
		if i > 0 {
			prev := uintptr(unsafe.Pointer(&ws[i-1].data[0])) + uintptr(len(ws[i-1].data))
			if prev > uintptr(unsafe.Pointer(&w.data[0])) {
				t.Errorf("matrices %d and %d overlap", i-1, i)
			}
		}
		for _, b := range w.data {
			if b != 0 {
				t.Fatalf("matrix %d not zero", i)
			}
		}
		for j := range w.data {
			w.data[j] = byte(i + 1) // touch every page
		}
	}
	if ws[0].mem.mapped == nil {
		t.Fatal("a 16 MB set was not mapped on its own")
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	start := uintptr(unsafe.Pointer(&ws[0].mem.mapped[0]))
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			r := strings.SplitN(fields[0], "-", 2)
			lo, hi := parseHex(r[0]), parseHex(r[1])
			in = lo <= start && start < hi
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			t.Logf("Q8 weights mapping: %s", strings.Join(strings.Fields(line), " "))
		}
	}
}

func parseHex(s string) uintptr {
	var v uintptr
	for _, c := range s {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uintptr(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uintptr(c-'a') + 10
		}
	}
	return v
}
