// Package appstest makes logo uploads for tests of the packages that accept
// them (the settings pages, the CLI): valid images and the hostile files
// apps.NormalizeLogo must refuse. Everything is generated, so no binary
// fixture needs checking in.
package appstest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
)

// PNG returns a w×h PNG with a colour gradient, so that it is visibly an
// image in screenshots.
func PNG(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: uint8(40 + x*180/max(w, 1)), G: uint8(80 + y*120/max(h, 1)), B: 220, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return b.Bytes()
}

// Oversized returns a valid PNG followed by padding, n bytes in all.
func Oversized(n int) []byte {
	p := PNG(32, 32)
	if n < len(p) {
		n = len(p)
	}
	return append(p, make([]byte, n-len(p))...)
}

// SVG is a vector image carrying script: never acceptable as a logo.
const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><script>alert(1)</script><circle cx="32" cy="32" r="30"/></svg>`

// PNGHeaderThenHTML is the PNG signature followed by an HTML page: a
// polyglot that sniffs as PNG but is not an image.
func PNGHeaderThenHTML() []byte {
	return []byte("\x89PNG\r\n\x1a\n<html><body><script>alert(document.cookie)</script></body></html>")
}

// PNGBomb is a decompression bomb: a 1-bit grayscale PNG of 20000×20000
// pixels, all zero, that compresses to a few tens of kilobytes but would
// take 50 MB to inflate and 400 MB as an image.
func PNGBomb() []byte {
	const side = 20000
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], side)
	binary.BigEndian.PutUint32(ihdr[4:], side)
	ihdr[8] = 1 // bit depth
	ihdr[9] = 0 // grayscale
	b.Write(chunk("IHDR", ihdr))
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+side/8) // filter byte + packed pixels
	for range side {
		_, _ = zw.Write(row)
	}
	_ = zw.Close()
	b.Write(chunk("IDAT", z.Bytes()))
	b.Write(chunk("IEND", nil))
	return b.Bytes()
}

// chunk builds one PNG chunk with its CRC.
func chunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// NoisyJPEG returns w×h pixels of colour noise as a JPEG of the given
// quality (1-100): the costly kind of logo, a small file (about 68 KB at
// 1024×1024 and quality 5) that decodes to a large image no compressor can
// shrink. The noise is seeded, so the file is the same on every call.
func NoisyJPEG(w, h, quality int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		if i%4 == 3 {
			img.Pix[i] = 255
		} else {
			img.Pix[i] = uint8(rng.IntN(256))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return b.Bytes()
}
