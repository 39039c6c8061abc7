package pgstore

// Migrations are the schema's versions, for the tests of migration.
var Migrations = migrations
