package authz

import "crypto"

// VerificationKey returns the public key published under kid, or false when
// no loaded key has that kid. Unlike PublicKey it never reloads the keys, so
// input from a browser (an id_token_hint) cannot make the server query the
// database.
func (k *KeySet) VerificationKey(kid string) (crypto.PublicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	p, ok := k.public[kid]
	if !ok {
		return nil, false
	}
	return p, true
}
