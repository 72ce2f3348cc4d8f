package apps

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder
	"image/png"

	_ "golang.org/x/image/webp" // registers the WebP decoder

	"github.com/nextoria/authz/storage"
)

// Logo limits. Images are decoded in memory, so the dimensions bound the
// memory one upload can claim (1024×1024×8 bytes at most).
const (
	MaxLogoBytes = 256 << 10
	MinLogoSide  = 16
	MaxLogoSide  = 1024
)

// Logo errors. Their messages are fit to show next to the upload field.
var (
	ErrLogoEmpty      = errors.New("logo file is empty")
	ErrLogoTooLarge   = fmt.Errorf("logo must be at most %d KiB", MaxLogoBytes>>10)
	ErrLogoFormat     = errors.New("logo must be a PNG, JPEG or WebP image")
	ErrLogoDimensions = fmt.Errorf("logo must be between %dx%d and %dx%d pixels", MinLogoSide, MinLogoSide, MaxLogoSide, MaxLogoSide)
)

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
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, img); err != nil {
		return storage.Logo{}, fmt.Errorf("apps: encode logo: %w", err)
	}
	return storage.Logo{ContentType: "image/png", Data: out.Bytes()}, nil
}
