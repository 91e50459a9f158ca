"""HDF5 run recordings: ``writer.Recorder`` writes, ``reader.Recording`` reads. Qt-free and
torch-free; the only package that names HDF5 datasets. Import the modules themselves: this
``__init__`` imports nothing, so ``nlviz.recording.stats`` (a plain value) costs no h5py."""
