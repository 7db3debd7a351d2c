dat_path = 'raw.bin'
n_channels_dat = 385
dtype = 'int16'
offset = 0
sample_rate = 30000.
hp_filtered = False
