//go:build race

package transformer

// raceEnabled reports a -race build (allocation counts are not meaningful).
const raceEnabled = true
