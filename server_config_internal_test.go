package gearman

import (
	"crypto/tls"
	"log/slog"
	"reflect"
	"testing"
)

// TestServerConfigCopied sets every exported field of Server that the
// engine's Config has too, and checks that config copies each one: a field
// added to both and forgotten in the copy fails here. (Server's fields are
// its public API, and jobserver.Config cannot be embedded in it without
// changing that API, so the two declarations stay.)
func TestServerConfigCopied(t *testing.T) {
	// Fields the Config names otherwise.
	alias := map[string]string{"RetryFailed": "Retry"}
	name := func(f string) string {
		if a, ok := alias[f]; ok {
			return a
		}
		return f
	}
	var s Server
	sv := reflect.ValueOf(&s).Elem()
	cfgType := reflect.TypeOf(s.config())
	shared := 0
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if _, ok := cfgType.FieldByName(name(f.Name)); !ok {
			continue
		}
		shared++
		fv := sv.Field(i)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("x" + f.Name)
		case reflect.Int, reflect.Int64:
			fv.SetInt(int64(1000 + i))
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Struct:
			fv.Field(0).SetInt(int64(1000 + i)) // RetryPolicy.Retries
		case reflect.Pointer:
			switch fv.Interface().(type) {
			case *tls.Config:
				fv.Set(reflect.ValueOf(&tls.Config{}))
			case *slog.Logger:
				fv.Set(reflect.ValueOf(slog.Default()))
			case *Store:
				continue // checked by the store tests: a *Store is opened, not made
			default:
				t.Fatalf("field %s of type %v: teach this test to set it", f.Name, f.Type)
			}
		default:
			t.Fatalf("field %s of kind %v: teach this test to set it", f.Name, fv.Kind())
		}
	}
	cv := reflect.ValueOf(s.config())
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		cf, ok := cfgType.FieldByName(name(f.Name))
		if !f.IsExported() || !ok || f.Name == "Store" {
			continue
		}
		if !reflect.DeepEqual(sv.Field(i).Convert(cf.Type).Interface(), cv.FieldByIndex(cf.Index).Interface()) {
			t.Errorf("Server.%s = %v is not copied to the engine's Config (%v)", f.Name, sv.Field(i).Interface(), cv.FieldByIndex(cf.Index).Interface())
		}
	}
	if shared < 15 {
		t.Errorf("only %d fields shared with the engine's Config", shared)
	}
}
