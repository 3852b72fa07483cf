package lvm

// Version is the version of this module's API and numerics.
const Version = "0.1.0-dev"

// TokensPerImage and MaxPositions are the numbers of the released LVMs:
// a 256×256 image is 16×16 = 256 codes, and a visual sentence holds at most
// 4096 tokens (15 prompt images plus the one being generated).
const (
	TokensPerImage = 256
	MaxPositions   = 4096
)
