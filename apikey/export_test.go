package apikey

// Pending returns the number of key uses waiting for Flush.
func Pending(s *Service) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lastUsed)
}
