package apps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // registers the JPEG decoder
	"image/png"
	"runtime"
	"time"

	_ "golang.org/x/image/webp" // registers the WebP decoder

	"github.com/nextoria/authz/storage"
)

// Logo limits. Images are decoded in memory, so the dimensions bound the
// memory one upload can claim (1024×1024×8 bytes at most).
const (
	MaxLogoBytes = 256 << 10
	MinLogoSide  = 16
	MaxLogoSide  = 1024
	// StoredLogoSide is the largest side of a stored logo; larger uploads
	// are scaled down to it. Pages show logos at 64×64 CSS pixels at most,
	// so this is sharp on screens of up to 4 device pixels per CSS pixel,
	// and it bounds what encoding and storing a logo cost.
	StoredLogoSide = 256
	// MaxStoredLogoBytes bounds the stored PNG.
	MaxStoredLogoBytes = 256 << 10
)

// fallbackLogoSide is the side a logo is scaled down to when its PNG at
// StoredLogoSide would exceed MaxStoredLogoBytes (noise compresses badly);
// 128×128×4 bytes fit whatever the content.
const fallbackLogoSide = 128

// Logo errors. Their messages are fit to show next to the upload field.
var (
	ErrLogoEmpty      = errors.New("logo file is empty")
	ErrLogoTooLarge   = fmt.Errorf("logo must be at most %d KiB", MaxLogoBytes>>10)
	ErrLogoFormat     = errors.New("logo must be a PNG, JPEG or WebP image")
	ErrLogoDimensions = fmt.Errorf("logo must be between %dx%d and %dx%d pixels", MinLogoSide, MinLogoSide, MaxLogoSide, MaxLogoSide)
	ErrLogoComplex    = errors.New("logo is too detailed to store; choose a simpler image")
	// ErrLogoBusy reports that every image slot stayed taken (see
	// NormalizeLogoContext); the upload may be tried again shortly.
	ErrLogoBusy = errors.New("apps: too many images are being processed; try again in a few seconds")
)

// imageSlots bounds the logos decoded and encoded at once in this process:
// one per CPU, so that a burst of uploads queues for CPU time here, where
// the wait is bounded, instead of slowing every request of the server.
var imageSlots = make(chan struct{}, runtime.NumCPU())

// LogoSlotWait bounds how long an upload waits for an image slot, well
// within the server's write timeout. A process may change it once at
// start-up, before any upload is served (test binaries that run many uploads
// in parallel on few CPUs raise it, so that they test their own logic rather
// than how busy the machine is).
var LogoSlotWait = 3 * time.Second

// NormalizeLogoContext is NormalizeLogo run in one of a bounded number of
// image slots. It waits for a slot at most LogoSlotWait (less if ctx ends
// first) and returns ErrLogoBusy when none was free, ctx's error when ctx
// ended.
func NormalizeLogoContext(ctx context.Context, data []byte) (storage.Logo, error) {
	if err := ctx.Err(); err != nil {
		return storage.Logo{}, err
	}
	wait := time.NewTimer(LogoSlotWait)
	defer wait.Stop()
	select {
	case imageSlots <- struct{}{}:
	case <-wait.C:
		return storage.Logo{}, ErrLogoBusy
	case <-ctx.Done():
		return storage.Logo{}, ctx.Err()
	}
	defer func() { <-imageSlots }()
	return NormalizeLogo(data)
}

// logoFormats are the decoders a logo may use, by the name image.RegisterFormat
// gives them. Other decoders linked into the binary (GIF, say) are refused.
var logoFormats = map[string]bool{"png": true, "jpeg": true, "webp": true}

// NormalizeLogo validates an uploaded logo and re-encodes it as PNG.
//
// The format is decided by decoding, never by a file name or a declared
// content type, so SVG (which can carry script) and anything else that is not
// a raster image is refused. Dimensions are read from the header before the
// pixels are decoded, which defuses decompression bombs: a few kilobytes
// declaring 20000×20000 pixels are refused without allocating them.
// Re-encoding drops metadata (EXIF, text chunks, comments) and whatever
// trailed the image data, so the stored file cannot double as HTML or script.
//
// An image larger than StoredLogoSide on either side is scaled down to fit
// (keeping its proportions), and the PNG is written with the default
// compression: a 1024×1024 image of noise costs tens of milliseconds of CPU
// and is stored in at most MaxStoredLogoBytes, where the best compression of
// the full image took seconds and a megabyte.
func NormalizeLogo(data []byte) (storage.Logo, error) {
	if len(data) == 0 {
		return storage.Logo{}, ErrLogoEmpty
	}
	if len(data) > MaxLogoBytes {
		return storage.Logo{}, ErrLogoTooLarge
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || !logoFormats[format] {
		return storage.Logo{}, ErrLogoFormat
	}
	if cfg.Width < MinLogoSide || cfg.Height < MinLogoSide || cfg.Width > MaxLogoSide || cfg.Height > MaxLogoSide {
		return storage.Logo{}, fmt.Errorf("%w (this one is %dx%d)", ErrLogoDimensions, cfg.Width, cfg.Height)
	}
	img, format2, err := image.Decode(bytes.NewReader(data))
	if err != nil || format2 != format {
		return storage.Logo{}, ErrLogoFormat
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return storage.Logo{}, ErrLogoFormat
	}
	for _, side := range []int{StoredLogoSide, fallbackLogoSide} {
		out, err := encodeLogo(fitWithin(img, side))
		if err != nil {
			return storage.Logo{}, err
		}
		if len(out) <= MaxStoredLogoBytes {
			return storage.Logo{ContentType: "image/png", Data: out}, nil
		}
	}
	return storage.Logo{}, ErrLogoComplex
}

// fitWithin returns img scaled down, proportions kept, so that neither side
// exceeds side; img itself when it already fits. Each pixel of the result is
// the average of the source area it covers (box filtering), which is
// alias-free for downscaling and costs one pass over the source.
func fitWithin(img image.Image, side int) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw <= side && sh <= side {
		return img
	}
	dw, dh := side, side
	if sw >= sh {
		dh = max(1, sh*side/sw)
	} else {
		dw = max(1, sw*side/sh)
	}
	src, ok := img.(*image.RGBA)
	if !ok || src.Rect.Min != (image.Point{}) {
		src = image.NewRGBA(image.Rect(0, 0, sw, sh))
		draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	sums := make([]uint32, 4*dw)
	for dy := range dh {
		y0, y1 := dy*sh/dh, (dy+1)*sh/dh
		clear(sums)
		for y := y0; y < y1; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*sw]
			for dx := range dw {
				x0, x1 := dx*sw/dw, (dx+1)*sw/dw
				s := sums[4*dx : 4*dx+4]
				for x := x0; x < x1; x++ {
					p := row[4*x : 4*x+4]
					s[0] += uint32(p[0])
					s[1] += uint32(p[1])
					s[2] += uint32(p[2])
					s[3] += uint32(p[3])
				}
			}
		}
		out := dst.Pix[dy*dst.Stride:]
		for dx := range dw {
			n := uint32((y1 - y0) * ((dx+1)*sw/dw - dx*sw/dw))
			for c := range 4 {
				out[4*dx+c] = uint8((sums[4*dx+c] + n/2) / n)
			}
		}
	}
	return dst
}

func encodeLogo(img image.Image) ([]byte, error) {
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("apps: encode logo: %w", err)
	}
	return out.Bytes(), nil
}
