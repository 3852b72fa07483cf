//go:build unix

package tokenizer

import "syscall"

// processCPUSeconds is the user+system CPU time of the process so far; the
// benchmarks report it per operation because wall time on a shared machine
// says little.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
