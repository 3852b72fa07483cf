//go:build !unix

package transformer

import "math"

// q8CPUSeconds is not measured here.
func q8CPUSeconds() float64 { return math.NaN() }
