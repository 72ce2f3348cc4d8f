package apikey_test

import (
	"errors"
	"fmt"

	"github.com/nextoria/authz/apikey"
)

// Parse catches a mistyped key before any database lookup.
func ExampleParse() {
	key := "nxh_ukmov5UiaP4cfy7SJT94ztRISoFrrdUKTquxIMqJTXr0jO8uv"
	p, err := apikey.Parse(key)
	fmt.Println(p.DisplayID, err)

	typo := key[:20] + "X" + key[21:]
	_, err = apikey.Parse(typo)
	fmt.Println(errors.Is(err, apikey.ErrChecksum))

	_, err = apikey.Parse("sk_live_1234")
	fmt.Println(errors.Is(err, apikey.ErrMalformed))
	// Output:
	// nxh_ukmov5Ui <nil>
	// true
	// true
}
