package apps

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
	"time"
)

func solid(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 11), B: 200, A: 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk builds one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// withPNGText inserts a tEXt chunk right after IHDR (signature 8 bytes +
// IHDR chunk 25 bytes), where metadata usually sits.
func withPNGText(t testing.TB, p []byte, keyword, text string) []byte {
	t.Helper()
	chunk := pngChunk("tEXt", []byte(keyword+"\x00"+text))
	out := append([]byte(nil), p[:33]...)
	out = append(out, chunk...)
	return append(out, p[33:]...)
}

// withJPEGMetadata inserts an EXIF-like APP1 segment and a comment right after SOI.
func withJPEGMetadata(t testing.TB, j []byte, marker string) []byte {
	t.Helper()
	seg := func(m byte, data []byte) []byte {
		s := []byte{0xFF, m, 0, 0}
		binary.BigEndian.PutUint16(s[2:], uint16(len(data)+2))
		return append(s, data...)
	}
	out := append([]byte(nil), j[:2]...)
	out = append(out, seg(0xE1, []byte("Exif\x00\x00GPS "+marker))...)
	out = append(out, seg(0xFE, []byte("comment "+marker))...)
	return append(out, j[2:]...)
}

// pngBomb is a real decompression bomb: a 1-bit grayscale PNG of
// 20000×20000 pixels, all zero, which compresses to a few tens of kilobytes
// but would take 50 MB to inflate and 400 MB as an image.
func pngBomb(t testing.TB) []byte {
	t.Helper()
	const side = 20000
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], side)
	binary.BigEndian.PutUint32(ihdr[4:], side)
	ihdr[8] = 1 // bit depth
	ihdr[9] = 0 // grayscale
	b.Write(pngChunk("IHDR", ihdr))
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+side/8) // filter byte + packed pixels
	for range side {
		_, _ = zw.Write(row)
	}
	_ = zw.Close()
	b.Write(pngChunk("IDAT", z.Bytes()))
	b.Write(pngChunk("IEND", nil))
	return b.Bytes()
}

// readTestdata reads a fixture. The WebP files are test images of
// golang.org/x/image (BSD licence), since the standard library cannot encode WebP.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNormalizeLogo(t *testing.T) {
	t.Parallel()
	validPNG := encodePNG(t, solid(32, 24))
	tests := []struct {
		name    string
		data    []byte
		wantErr error  // nil means accepted
		wantW   int    // expected dimensions when accepted
		wantH   int    //
		absent  string // must not appear in the output
	}{
		{"png", validPNG, nil, 32, 24, ""},
		{"smallest png", encodePNG(t, solid(16, 16)), nil, 16, 16, ""},
		{"largest png", encodePNG(t, image.NewGray(image.Rect(0, 0, 1024, 1024))), nil, StoredLogoSide, StoredLogoSide, ""},
		{"png metadata stripped", withPNGText(t, validPNG, "Comment", "secret-metadata"), nil, 32, 24, "secret-metadata"},
		{"png followed by html", append(append([]byte(nil), validPNG...), "<html><script>alert(1)</script></html>"...), nil, 32, 24, "<script>"},
		{"jpeg", encodeJPEG(t, solid(40, 20)), nil, 40, 20, ""},
		{"jpeg exif stripped", withJPEGMetadata(t, encodeJPEG(t, solid(40, 20)), "secret-location"), nil, 40, 20, "secret-location"},
		{"webp lossy", readTestdata(t, "blue-purple-pink.lossy.webp"), nil, 150, 100, ""},
		{"webp lossless", readTestdata(t, "gopher-doc.8bpp.lossless.webp"), nil, 0, 0, ""},

		{"empty", []byte{}, ErrLogoEmpty, 0, 0, ""},
		{"oversized", append(append([]byte(nil), validPNG...), make([]byte, MaxLogoBytes)...), ErrLogoTooLarge, 0, 0, ""},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><script>alert(1)</script></svg>`), ErrLogoFormat, 0, 0, ""},
		{"svg with xml prolog", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), ErrLogoFormat, 0, 0, ""},
		{"html", []byte("<!doctype html><title>x</title>"), ErrLogoFormat, 0, 0, ""},
		{"png header followed by html", []byte("\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"), ErrLogoFormat, 0, 0, ""},
		{"truncated png", validPNG[:len(validPNG)/2], ErrLogoFormat, 0, 0, ""},
		{"gif", encodeGIF(t, solid(32, 32)), ErrLogoFormat, 0, 0, ""},
		{"too small", encodePNG(t, solid(15, 16)), ErrLogoDimensions, 0, 0, ""},
		{"too wide", encodePNG(t, image.NewGray(image.Rect(0, 0, 1025, 16))), ErrLogoDimensions, 0, 0, ""},
		{"too tall", encodeJPEG(t, image.NewGray(image.Rect(0, 0, 16, 1025))), ErrLogoDimensions, 0, 0, ""},
		{"decompression bomb", pngBomb(t), ErrLogoDimensions, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got, err := NormalizeLogo(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NormalizeLogo() error = %v, want %v", err, tt.wantErr)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("rejecting took %v; the image was decoded", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeLogo() error = %v", err)
			}
			if got.ContentType != "image/png" {
				t.Errorf("ContentType = %q, want image/png", got.ContentType)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(got.Data))
			if err != nil || format != "png" {
				t.Fatalf("output is not a PNG: format %q, err %v", format, err)
			}
			if tt.wantW != 0 && (cfg.Width != tt.wantW || cfg.Height != tt.wantH) {
				t.Errorf("output is %dx%d, want %dx%d", cfg.Width, cfg.Height, tt.wantW, tt.wantH)
			}
			if tt.absent != "" && bytes.Contains(got.Data, []byte(tt.absent)) {
				t.Errorf("output still contains %q", tt.absent)
			}
			for _, chunk := range []string{"tEXt", "zTXt", "iTXt", "eXIf"} {
				if bytes.Contains(got.Data, []byte(chunk)) {
					t.Errorf("output contains a %s chunk", chunk)
				}
			}
			if !bytes.HasSuffix(got.Data, pngChunk("IEND", nil)) {
				t.Error("output has data after IEND")
			}
		})
	}
}

func TestNormalizeLogoKeepsPixels(t *testing.T) {
	t.Parallel()
	src := solid(20, 20)
	got, err := NormalizeLogo(withPNGText(t, encodePNG(t, src), "Author", "someone"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []image.Point{{0, 0}, {7, 3}, {19, 19}} {
		r1, g1, b1, a1 := src.At(p.X, p.Y).RGBA()
		r2, g2, b2, a2 := img.At(p.X, p.Y).RGBA()
		if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
			t.Errorf("pixel %v changed", p)
		}
	}
}
