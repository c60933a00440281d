module pion-peer

go 1.19
