//go:build !unix

package main

// cpuTime is not measured on this system.
func cpuTime() float64 { return 0 }

// maxRSS is not measured on this system.
func maxRSS() int64 { return 0 }
