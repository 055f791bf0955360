"""Source options of the immune modality (``sources.immune[i].options`` in cohort.yaml).

The QC and processing blocks name the fields of :class:`~._qc.QCParams` and
:class:`~._typing.ProcessParams`; a field left out keeps its default there, and the decisions file
(``immune.qc``, ``immune.processing``, written by the notebook's widget) overrides them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..base import Options


class QCOverrides(Options):
    """Per-sample QC thresholds (scverse best-practice defaults in ``QCParams``)."""

    nmads_counts: float | None = Field(None, gt=0, description="MADs from the median of log total counts (default 5)")
    nmads_genes: float | None = Field(None, gt=0, description="MADs from the median of log genes per cell (default 5)")
    nmads_top20: float | None = Field(None, gt=0, description="MADs from the median top-20-genes share (default 5)")
    nmads_mt: float | None = Field(None, gt=0, description="MADs above the median % mitochondrial (default 3)")
    max_pct_mt: float | None = Field(None, ge=0, le=100, description="highest % mitochondrial counts (default 8)")
    min_counts: float | None = Field(None, ge=0, description="empty-droplet floor of total counts (default 200)")
    min_genes: float | None = Field(None, ge=0, description="empty-droplet floor of genes (default 100)")
    doublets: bool | None = Field(None, description="score and remove doublets (default true)")
    expected_doublet_rate: float | None = Field(None, gt=0, lt=1, description="expected doublet rate (default 0.05)")
    max_empty_fraction: float | None = Field(
        None, ge=0, le=1, description="a sample with a larger share of empty barcodes fails (default 0.5)"
    )
    max_high_mt_fraction: float | None = Field(
        None, ge=0, le=1, description="a sample with a larger share of high-mitochondrial cells fails (default 0.1)"
    )
    min_cells: int | None = Field(None, ge=1, description="fewer cells after QC flag the sample (default 20)")
    max_outside_population: float | None = Field(
        None,
        ge=0,
        le=1,
        description="a sorted sample (sheet column "
        "sorted_population) with a larger share of cells typed outside "
        "the population fails (default 0.1)",
    )


class QCOptions(QCOverrides):
    """QC thresholds for every sample of the source, per tissue and per sample token on top."""

    tissue: dict[str, QCOverrides] = Field(
        default_factory=dict, description="tissue -> thresholds, e.g. {tumor: {max_pct_mt: 15}}"
    )
    sample: dict[str, QCOverrides] = Field(default_factory=dict, description="sample token -> thresholds")

    def layer(self) -> dict[str, Any]:
        """The thresholds given, as ``QCParams.resolve`` reads a layer (fields left out are not there)."""
        return self.model_dump(exclude_none=True)


class ProcessingOptions(Options):
    """Normalization, embedding, clustering and typing parameters (``ProcessParams``)."""

    target_sum: float | None = Field(None, gt=0, description="counts per cell after normalization (default 1e4)")
    n_top_genes: int | None = Field(None, ge=1, description="highly variable genes (default 2000)")
    n_pcs: int | None = Field(None, ge=1, description="principal components (default 30)")
    n_neighbors: int | None = Field(None, ge=2, description="neighbours of the kNN graph (default 15)")
    neighbors_method: Literal["gauss", "umap"] | None = Field(None, description="kNN weights (default gauss)")
    leiden_resolution: float | None = Field(None, gt=0, description="Leiden resolution (default 1.0)")
    umap: bool | None = Field(None, description="compute a UMAP (default true)")
    umap_epochs: int | None = Field(None, ge=1, description="UMAP epochs (default 200)")
    seed: int | None = Field(None, description="random seed (default 0)")
    min_score: float | None = Field(
        None, description="lowest marker score to type a cell (default: the marker table's)"
    )
    min_margin: float | None = Field(
        None, description="lowest margin over the runner-up type (default: the marker table's)"
    )

    def layer(self) -> dict[str, Any]:
        """The parameters given (fields left out are not there)."""
        return self.model_dump(exclude_none=True)


class ImmuneOptions(Options):
    """Options of a 10x folder, 10x .h5 or .h5ad source."""

    samples: str | None = Field(
        None,
        min_length=1,
        description="sample sheet (sample_id, admission_number, site, "
        "tissue, timepoint[, path, raw_path, vdj]), "
        "relative to cohort.yaml",
    )
    sample_key: str | None = Field(
        None, min_length=1, description="an .h5ad holding several samples: the obs column of sample IDs"
    )
    genome: str | None = Field(None, min_length=1, description="genome of a legacy multi-genome 10x .h5")
    tissue: str = Field("unknown", min_length=1, description="tissue of every sample when there is no sample sheet")
    qc: QCOptions = Field(default_factory=QCOptions, description="QC threshold overrides")
    processing: ProcessingOptions = Field(default_factory=ProcessingOptions, description="processing parameters")
