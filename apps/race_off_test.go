//go:build !race

package apps

// raceDetector slows every test several times over; CPU bounds allow for it.
const raceDetector = false
