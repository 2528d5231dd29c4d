"""Small synthetic image files written to tmp folders for the io tests (each with known voxel values)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CT_NIFTI = "ct_lesion_3d/deeplesion-medsam2/raw_hu/000015_01_01_103-115.nii.gz"
CT_NPZ = "ct_lesion_3d/deeplesion-medsam2/CT_Lesion_000015_01_01_103-115.npz"
BRATS_IMAGE = "mri_brain/SAM-Med3D/imagesTr/BraTS2021_01646.nii.gz"
BRATS_LABEL = "mri_brain/SAM-Med3D/labelsTr/BraTS2021_01646.nii.gz"
PET_IMAGE = "pet/ibsi-data_sets/STS_003/PET_image.nii.gz"
PET_MASK = "pet/ibsi-data_sets/STS_003/PET_mask.nii.gz"
CARDIAC = "mri_cardiac/TensorFlow-FlexUNet-Image-Segmentation-Cardiac-Diagnosis-MRI"
HIPPOCAMPUS = "mri_hippocampus/TensorFlow-FlexUNet-Image-Segmentation-MSD-Hippocampus"
POLYP = "endoscopy_polyp/kvasir-seg"
FETAL = "ultrasound_fetal_head/Tensorflow-Image-Segmentation-Augmented-Fetal-Head"
STARDIST = "microscopy_fluorescence_nuclei/stardist-pypi"
XRAY = "xray_chest/lung-segmentation-2d"


def first(folder: Path, pattern: str) -> Path:
    """The first file (sorted) matching ``pattern`` under ``folder``."""
    found = sorted(folder.glob(pattern))
    assert found, f"no {pattern} under {folder}"
    return found[0]


def volume_xyz(shape_xyz=(5, 4, 3), dtype=np.int16) -> np.ndarray:
    """A volume whose value encodes its (x, y, z) index: 100*x + 10*y + z."""
    x, y, z = np.indices(shape_xyz)
    return (100 * x + 10 * y + z).astype(dtype)


def write_nifti(path: Path, data_xyz: np.ndarray, *, zooms=(0.8, 0.9, 2.5), affine=None) -> Path:
    import nibabel as nib

    if affine is None:
        affine = np.diag(list(zooms[:3]) + [1.0])
        affine[:3, 3] = (-10.0, 20.0, 5.0)
    img = nib.Nifti1Image(data_xyz, affine)
    img.header.set_zooms(tuple(zooms) + (1.0,) * (data_xyz.ndim - len(zooms)))
    nib.save(img, str(path))
    return path


def write_npz_3d(path: Path) -> tuple[Path, np.ndarray]:
    imgs = (np.arange(3 * 4 * 5) % 256).astype(np.uint8).reshape(3, 4, 5)
    gts = (imgs > 30).astype(np.uint8)
    np.savez_compressed(path, imgs=imgs, gts=gts, spacing=np.array([0.7, 0.8, 3.0]))
    return path, imgs


def write_npz_2d(path: Path) -> tuple[Path, np.ndarray]:
    imgs = (np.arange(6 * 7 * 3) % 256).astype(np.uint8).reshape(6, 7, 3)
    gts = np.zeros((6, 7), np.uint8)
    gts[2:4, 2:5] = 1
    np.savez_compressed(path, imgs=imgs, gts=gts)
    return path, imgs


def write_pil(path: Path, array: np.ndarray, mode: str | None = None, **kw) -> Path:
    from PIL import Image as PILImage

    im = PILImage.fromarray(array) if mode is None else PILImage.fromarray(array).convert(mode)
    im.save(str(path), **kw)
    return path


def write_palette_png(path: Path) -> tuple[Path, np.ndarray]:
    """A palette PNG whose indices map to red / green / blue; returns the expected RGB array."""
    from PIL import Image as PILImage

    idx = np.array([[0, 1, 2, 1], [2, 0, 0, 1], [1, 1, 2, 0]], dtype=np.uint8)
    im = PILImage.fromarray(idx, mode="P")
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (768 - 9)
    im.putpalette(palette)
    im.save(str(path))
    lut = np.array(palette[:9], dtype=np.uint8).reshape(3, 3)
    return path, lut[idx]


def write_dicom_series(folder: Path, volume_zyx: np.ndarray, *, spacing=(2.5, 0.7, 0.6), slope=1.0,
                       intercept=-1024.0, shuffle=True) -> Path:
    """Write a CT series of uint16 stored values; HU = stored * slope + intercept. Files are named in a
    shuffled order so readers must sort by ImagePositionPatient."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    n = volume_zyx.shape[0]
    names = list(range(n))
    if shuffle:
        names = names[::-1]
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.Modality = "CT"
        ds.PatientName = "Synthetic^Test"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-50.0, -60.0, 10.0 + k * spacing[0]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.Rows, ds.Columns = volume_zyx.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.ascontiguousarray(volume_zyx[k].astype("<u2")).tobytes()
        pydicom.dcmwrite(str(folder / f"slice_{names[k]:03d}.dcm"), ds, enforce_file_format=True)
    return folder


def write_dicom_multiframe(path: Path, volume_zyx: np.ndarray, *, pixel_spacing=(0.5, 0.4),
                           spacing_between=2.0) -> Path:
    """An enhanced-style multi-frame file: geometry only in the shared functional groups."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.NumberOfFrames = volume_zyx.shape[0]
    ds.Rows, ds.Columns = volume_zyx.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    measures = Dataset()
    measures.PixelSpacing = list(pixel_spacing)
    measures.SpacingBetweenSlices = spacing_between
    group = Dataset()
    group.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([group])
    ds.PixelData = np.ascontiguousarray(volume_zyx.astype("<i2")).tobytes()
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return path
