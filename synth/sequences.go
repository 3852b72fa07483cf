package synth

import (
	"fmt"
	"image/color"
	"math"
)

// Motion is how the objects of a sequential sentence change from frame to
// frame. A sentence uses one motion for all its objects, each object with
// its own rate.
type Motion uint8

// The motions.
const (
	MotionMove   Motion = iota // constant velocity, bouncing off the borders
	MotionGrow                 // size changing at a constant rate, bouncing between a smallest and a largest size
	MotionRotate               // constant angular velocity (shapes that a turn changes)
	MotionColour               // colour stepping in equal steps from one palette colour to another
	numMotions
)

var motionNames = [numMotions]string{"move", "grow", "rotate", "colour"}

// Motions returns every motion, in order.
func Motions() []Motion {
	out := make([]Motion, numMotions)
	for i := range out {
		out[i] = Motion(i)
	}
	return out
}

// String returns the motion's name: move, grow, rotate or colour.
func (m Motion) String() string {
	if m < numMotions {
		return motionNames[m]
	}
	return fmt.Sprintf("Motion(%d)", uint8(m))
}

// ParseMotion returns the motion named name (as String writes it).
func ParseMotion(name string) (Motion, error) {
	for i, n := range motionNames {
		if n == name {
			return Motion(i), nil
		}
	}
	return 0, fmt.Errorf("synth: unknown motion %q", name)
}

// track is one object's rate of change. Frame t of an object o is
// track.at(o, t, frames, side).
type track struct {
	vx, vy     float64 // MotionMove: pixels per frame
	ds         float64 // MotionGrow: size change per frame
	minS, maxS float64 // MotionGrow: the size bounces between these
	omega      float64 // MotionRotate: radians per frame
	to         color.NRGBA
}

// at returns o, as it is in frame 0, moved on to frame t of a sentence of
// the given number of frames in a side×side image.
func (tr track) at(m Motion, o Object, t, frames, side int) Object {
	ft := float64(t)
	switch m {
	case MotionMove:
		r := o.Radius()
		o.X = bounce(o.X+float64(tr.vx*ft), r, float64(side)-r)
		o.Y = bounce(o.Y+float64(tr.vy*ft), r, float64(side)-r)
	case MotionGrow:
		o.Size = bounce(o.Size+float64(tr.ds*ft), tr.minS, tr.maxS)
	case MotionRotate:
		o.Angle += float64(tr.omega * ft)
	case MotionColour:
		if frames > 1 {
			o.Colour = lerpColour(o.Colour, tr.to, ft/float64(frames-1))
		}
	}
	return o
}

// bounce folds x into [lo, hi] as a ball bouncing between two walls: a
// triangle wave, exact for any distance travelled.
func bounce(x, lo, hi float64) float64 {
	l := hi - lo
	if !(l > 0) {
		return lo
	}
	y := math.Mod(x-lo, 2*l)
	if y < 0 {
		y += 2 * l
	}
	if y > l {
		y = 2*l - y
	}
	return lo + y
}

// lerpColour returns a + f·(b − a), rounded per channel, opaque.
func lerpColour(a, b color.NRGBA, f float64) color.NRGBA {
	mix := func(p, q uint8) uint8 {
		return uint8(math.Round(float64(p) + float64(f*(float64(q)-float64(p)))))
	}
	return color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// animate returns the frames' scenes: frame t holds each object of start
// moved on by its track.
func animate(start Scene, m Motion, tracks []track, frames int) []Scene {
	out := make([]Scene, frames)
	for t := range out {
		s := start.Clone()
		for i := range s.Objects {
			s.Objects[i] = tracks[i].at(m, start.Objects[i], t, frames, start.Side)
		}
		out[t] = s
	}
	return out
}
