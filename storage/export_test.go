package storage

// Exported for the external tests of this package.
const RotateRefreshSQL = rotateRefreshSQL

var HashSignature = hashSignature
