package store

// FindLockHolder is findLockHolder, for the external tests.
var FindLockHolder = findLockHolder
