package sqlstore

import (
	"context"

	"github.com/fleetgov/fleetgov/internal/store"
)

const fleetLoadCols = `digest, library_version, contract_version, source, loaded_at, loaded_by, library_versions, contract_rows`

func scanFleetLoad(sc scanner) (store.FleetLoad, error) {
	var l store.FleetLoad
	err := sc.Scan(&l.ID, &l.Digest, &l.LibraryVersion, &l.ContractVersion, &l.Source,
		timeCol{&l.LoadedAt}, &l.LoadedBy, jsonCol[map[string]string]{&l.LibraryVersions}, jsonCol[map[string]string]{&l.ContractRows})
	return l, err
}

func (x *tx) RecordFleetLoad(ctx context.Context, l store.FleetLoad) (store.FleetLoad, error) {
	versions := l.LibraryVersions
	if versions == nil {
		versions = map[string]string{}
	}
	rows := l.ContractRows
	if rows == nil {
		rows = map[string]string{}
	}
	vj, err := jsonArg(versions)
	if err != nil {
		return store.FleetLoad{}, x.errorf("record fleet load %s: %w", l.Digest, err)
	}
	rj, err := jsonArg(rows)
	if err != nil {
		return store.FleetLoad{}, x.errorf("record fleet load %s: %w", l.Digest, err)
	}
	err = x.queryRow(ctx, `INSERT INTO fleet_loads (`+fleetLoadCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		l.Digest, l.LibraryVersion, l.ContractVersion, l.Source, x.time(l.LoadedAt), l.LoadedBy, vj, rj).Scan(&l.ID)
	if err != nil {
		return store.FleetLoad{}, x.errorf("record fleet load %s: %w", l.Digest, err)
	}
	l.LoadedAt = normTime(l.LoadedAt)
	l.LibraryVersions = versions
	l.ContractRows = rows
	return l, nil
}

func (x *tx) ListFleetLoads(ctx context.Context, limit int) ([]store.FleetLoad, error) {
	var w where
	rows, err := x.query(ctx, `SELECT id, `+fleetLoadCols+` FROM fleet_loads ORDER BY id DESC`+w.limit(limit), w.args...)
	if err != nil {
		return nil, x.errorf("list fleet loads: %w", err)
	}
	ls, err := collect(rows, scanFleetLoad)
	if err != nil {
		return nil, x.errorf("list fleet loads: %w", err)
	}
	return ls, nil
}
